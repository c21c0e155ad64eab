"""Zoho Accounts (OAuth 2.0): the authorize page, the token endpoint, revocation, server info
(docs/vendors/zoho-accounts.md).

CONTRACT used by every Zoho emulator (CRM, Bulk, Notifications, Voice): `AccountsState.resolve(token)`
returns the AccessToken (org, user, scopes) or a reason string ("expired", "invalid").

What it reproduces:
- `GET /oauth/v2/auth`: validates client_id and redirect_uri (an error page, never a redirect, when either is
  wrong), response_type=code and scope (redirected back as `error=...`); a page where a person picks the Zoho
  user who consents (or rejects: `error=access_denied`); `_sandbox_user=<user id>` approves at once (tests).
  The redirect carries `code`, `state`, `location=us` and `accounts-server=<this sandbox>`.
- `POST /oauth/v2/token` (params in the form body or the query string): `authorization_code`, `refresh_token`
  and `client_credentials`. Errors answer HTTP 200 with `{"error": ...}`. Grant codes are single use and live
  `grant_code_ttl_seconds` (3 min); at most 10 code exchanges per client per window (`access_denied`).
  A refresh token is handed out only for `access_type=offline`, and only on the first consent of a user to
  a client or with `prompt=consent` (Zoho's behaviour as seen by clients; UNCONFIRMED in its docs).
  At most `access_tokens_per_refresh_per_window` access tokens per refresh token per `token_window_seconds`
  (then `{"error": "Access Denied", ...}`), at most `active_access_tokens_per_refresh` live ones (the next
  evicts the oldest, which then fails with INVALID_TOKEN); at most 20 refresh tokens per user and client
  (the 21st deletes the oldest and its access tokens).
- `POST /oauth/v2/token/revoke?token=...`, `GET /oauth/serverinfo`.
`api_domain` and `accounts-server` are this sandbox's own base URL, taken from the request, so any port works.
"""

from sandbox.zoho_accounts.authorize import authorize, consent_page, error_page
from sandbox.zoho_accounts.state import (
    CRM_ADMIN_SCOPES,
    AccessToken,
    AccountsState,
    GrantCode,
    OAuthClient,
    RefreshToken,
    base_url,
    scope_problem,
    split_scopes,
)
from sandbox.zoho_accounts.tokens import revoke, serverinfo, token

ROUTES = [
    ("/oauth/v2/auth", ["GET"], authorize),
    ("/oauth/v2/token", ["POST"], token),
    ("/oauth/v2/token/revoke", ["POST"], revoke),
    ("/oauth/serverinfo", ["GET"], serverinfo),
]

__all__ = [
    "CRM_ADMIN_SCOPES",
    "ROUTES",
    "AccessToken",
    "AccountsState",
    "GrantCode",
    "OAuthClient",
    "RefreshToken",
    "authorize",
    "base_url",
    "consent_page",
    "error_page",
    "revoke",
    "scope_problem",
    "serverinfo",
    "split_scopes",
    "token",
]
