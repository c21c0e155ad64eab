""" "Sign in with Zoho": Zoho tells us who is at the keyboard; the browser never does (docs/vendors/zoho-crm.md,
Widgets and user identity). The CRM interface's sign-in class methods for ZohoCrmProvider (crm/provider.py).

1. `sign_in_url` sends the person to Zoho's consent page with our sign-in client (ZOHO_SIGNIN_CLIENT_ID), the two
   read scopes that identify them, `access_type=online` (no refresh token is ever issued) and the state of the one
   Zoho OAuth flow (oauth.py, crm/oauth_state.py), marked a sign-in and bound to this browser.
2. Zoho sends them back with `code` and `accounts-server`; `sign_in_finish` exchanges the code at that server only
   if it is one of Zoho's own (data_centres.py), one listed in ZOHO_ACCOUNTS_SERVERS, or our configured one, so our
   client secret never goes to a host named in a forged URL.
3. With the access token it asks Zoho for CurrentUser and the org at the answer's `api_domain`, which must be a
   Zoho API domain (or, for an emulator configured as the accounts server, that emulator), then drops the token: it
   is never stored, and if Zoho sends a refresh token anyway it is revoked.
4. `connection_for_identity`: the Zoho org must be held by a connected CRM account (ZohoConnection.zoho_org_id,
   unique among connections that are not disconnected) of exactly one active organization. Who the member is
   (studios.MemberCrmUser on that connection) is the caller's business (identity/).
Refusals are CrmAuthError whose `code` is a stable reason for the pages ("not_configured", "bad_request",
"bad_state", "bad_accounts_server", "crm_refused"); a Zoho that does not answer is CrmUnavailable
("crm_unavailable").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
import structlog

from django.conf import settings

from core import outbound
from core.exceptions import ApplicationError
from crm.errors import CrmAuthError, CrmUnavailable
from crm.oauth_state import Flow, state_claim, state_issue
from crm.providers.zoho import oauth
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.models import ZohoConnection
from crm.records import Identity, SignIn
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

SCOPES = ("ZohoCRM.users.READ", "ZohoCRM.org.READ")
MODES = ("page", "widget")
ACCESS_TYPE = "online"  # Zoho issues no refresh token: nothing of the user's outlives the sign-in


def default_redirect_uri() -> str:
    """Where Zoho sends a signing-in person back: ZOHO_SIGNIN_REDIRECT_URI as registered with our sign-in client
    (the old /auth/zoho/callback by default; /crm/oauth/callback is the same view)."""
    return zoho_settings.SIGNIN_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/auth/zoho/callback"


def _refused(message: str, reason: str) -> CrmAuthError:
    return CrmAuthError(message, provider=oauth.PROVIDER, code=reason)


def _unavailable(message: str) -> CrmUnavailable:
    return CrmUnavailable(message, provider=oauth.PROVIDER, code="crm_unavailable")


def accounts_server_check(accounts_server: str) -> str:
    """Where the code may be exchanged: Zoho's `accounts-server`, if it is one we trust."""
    configured = zoho_settings.SIGNIN_ACCOUNTS_URL
    wanted = outbound.origin_of(accounts_server or configured)
    if not wanted or wanted not in oauth.accounts_servers_trusted(also=[configured]):
        raise _refused(f"{accounts_server} is not a Zoho accounts server.", "bad_accounts_server")
    return wanted


def identify(*, code: str, accounts_server: str, redirect_to: str) -> Identity:
    """Exchange the code, ask Zoho who this is and which org, and forget the token."""
    server = accounts_server_check(accounts_server)
    http = oauth.http_session("zoho-sign-in")
    try:
        body = oauth.code_exchange(
            http=http,
            server=server,
            client_id=zoho_settings.SIGNIN_CLIENT_ID,
            client_secret=zoho_settings.SIGNIN_CLIENT_SECRET,
            redirect_uri=redirect_to,
            code=code,
        )
    except oauth.ExchangeFailed as exc:
        if exc.reason == "refused":
            logger.warning("zoho.sign_in.accounts_server_refused", server=server, reason=exc.detail)
            raise _unavailable("Sign in with Zoho is not available right now.") from exc
        if exc.reason == "unreachable":
            raise _unavailable("Zoho did not answer; try again in a minute.") from exc
        raise _refused(f"Zoho refused the sign-in ({exc.detail}); start again.", "crm_refused") from exc
    try:
        return _who(http, body, server)
    finally:
        # Online access gives no refresh token. Should Zoho send one anyway, it is revoked once used (revoking it
        # also ends its access token), so nothing of the user's outlives the sign-in.
        if body.get("refresh_token"):
            oauth.token_revoke(http=http, server=server, refresh_token=body["refresh_token"], flow="sign_in")


def _who(http: requests.Session, body: dict[str, Any], server: str) -> Identity:
    """CurrentUser and the org, asked with the access token of the sign-in, at a Zoho API domain only."""
    if not body.get("api_domain"):
        raise _refused("Zoho sent no API domain; start again.", "crm_refused")
    try:
        api_domain = oauth.api_domain_check(account=None, server=server, api_domain=str(body["api_domain"]))
    except ApplicationError as exc:
        logger.warning("zoho.sign_in.api_domain_refused", api_domain=body["api_domain"], server=server)
        raise _refused(f"Zoho named {body['api_domain']}, which is not a Zoho API domain.", "crm_refused") from exc
    try:
        user, org = oauth.identity_read(http=http, api_domain=api_domain, access_token=body["access_token"])
    except outbound.OutboundRefused as exc:
        logger.warning("zoho.sign_in.api_domain_refused", api_domain=api_domain, reason=exc.message)
        raise _refused(f"Zoho named {api_domain}, which may not be called.", "crm_refused") from exc
    except (requests.RequestException, ValueError, AttributeError) as exc:
        raise _unavailable("Zoho did not say who you are; try again in a minute.") from exc
    if not user.get("id") or not org.get("id"):
        logger.warning("zoho.sign_in.identity_missing", user_found=bool(user.get("id")), org_found=bool(org.get("id")))
        raise _refused("Zoho did not say who you are (your Zoho CRM user may lack access); start again.", "crm_refused")
    status = str(user.get("status") or "")
    return Identity(
        org_id=str(org["id"]),
        org_name=str(org.get("company_name") or ""),
        user_id=str(user["id"]),
        user_email=str(user.get("email") or ""),
        user_name=str(user.get("full_name") or ""),
        user_active=not status or status == "active",
    )


class ZohoSignIn:
    """The sign-in class methods of the CRM interface (Capability.SIGN_IN), mixed into ZohoCrmProvider."""

    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        if not zoho_settings.SIGNIN_CLIENT_ID or not zoho_settings.SIGNIN_CLIENT_SECRET:
            raise _refused("Sign in with Zoho is not configured on this server.", "not_configured")
        if mode not in MODES:
            raise _refused(f"Unknown sign-in mode {mode!r}.", "bad_request")
        redirect_to = redirect_uri or default_redirect_uri()
        state = state_issue(session=session, kind=oauth.PROVIDER, flow=Flow.SIGN_IN, mode=mode, redirect=redirect_to)
        params = {
            "scope": ",".join(SCOPES),
            "client_id": zoho_settings.SIGNIN_CLIENT_ID,
            "response_type": "code",
            "access_type": ACCESS_TYPE,
            "redirect_uri": redirect_to,
            "state": state,
        }
        return f"{zoho_settings.SIGNIN_ACCOUNTS_URL.rstrip('/')}/oauth/v2/auth?{urlencode(params)}"

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        issued = state_claim(state=str(params.get("state") or ""), session=session)
        if issued.kind != oauth.PROVIDER or issued.flow != Flow.SIGN_IN:
            raise _refused("This sign-in link is invalid or has expired; start again.", "bad_state")
        mode = issued.data.get("mode") if issued.data.get("mode") in MODES else "page"
        if params.get("error"):
            raise _refused(f"Zoho sign-in did not complete ({params['error']}).", "crm_refused")
        identity = identify(
            code=str(params.get("code") or ""),
            accounts_server=str(params.get("accounts-server") or ""),
            redirect_to=str(issued.data.get("redirect") or default_redirect_uri()),
        )
        return SignIn(identity=identity, mode=mode)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> ProviderAccount | None:
        """The Zoho CRM account whose connection holds the identity's Zoho org, of exactly one active
        organization."""
        rows = set(
            ZohoConnection.objects.unscoped()  # the tenant is being established here, from Zoho's answer
            .filter(zoho_org_id=identity.org_id, account__kind=ProviderKind.ZOHO_CRM, organization__is_active=True)
            .exclude(state=ZohoConnection.State.NOT_CONNECTED)  # a disconnected row holds nothing (oauth.py)
            .values_list("organization_id", "account_id")
        )
        if len({organization_id for organization_id, _ in rows}) != 1:
            if rows:  # two customers claim one Zoho org: an operator must sort it out, nobody gets in
                logger.error(
                    "zoho.sign_in.zoho_org_ambiguous",
                    zoho_org_id=identity.org_id,
                    organization_ids=sorted({organization_id for organization_id, _ in rows}),
                )
            return None
        _, account_id = min(rows)
        return ProviderAccount.objects.unscoped().select_related("organization").get(pk=account_id)  # as above
