"""Connect HubSpot: Leadline's public app installed in a portal by OAuth (docs/vendors/hubspot.md, Auth), and
disconnect. Sign-in (sign_in.py) makes the same exchanges with fewer scopes.

1. `authorize_url` sends the manager to HubSpot's consent page (`<app host>/oauth/authorize`) with the app's
   client id, the one callback of every CRM flow (/crm/oauth/callback), the scopes (HUBSPOT_SCOPES; optional ones
   as `optional_scope`) and the signed state of every CRM flow (crm/oauth_state.py: single use, bound to this
   browser, naming the account).
2. HubSpot sends them back to /crm/oauth/callback, which hands a connect to views.py; `finish_connect` claims the
   state and exchanges the code at the token endpoint (HUBSPOT_TOKEN_PATH; both answer shapes are read). The
   access token's info (`GET /oauth/v1/access-tokens/<token>`) names the portal (hub_id, hub_domain), the user
   who installed the app (user, user_id), the app and the granted scopes; the owners API turns that user into
   the owner id records carry (hubspot_owner_id), which is how Leadline's members are known.
3. The refresh token is stored encrypted on the account; access tokens are the token broker's (tokens.py).

A portal is held by one connection (a database constraint): a second organization's claim is refused with a
message, storing nothing and revoking the new refresh token; so is connecting an account to a portal other than
the one it was connected to (its mirror and members belong to that one). No vendor call happens inside a database
transaction: the callback view is non-atomic and writes afterwards. Errors are crm.errors types: CrmAuthError
(the flow failed or was refused; a person starts again), CrmUnavailable (HubSpot did not answer), CrmRejected (a
setup problem: no app credentials).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
import structlog

from django.conf import settings
from django.db import IntegrityError, transaction

from core import outbound
from core.http import json_object, make_session
from crm import connection_state
from crm.connect_flow import ConnectFlow
from crm.errors import CrmAuthError, CrmError, CrmRejected, CrmUnavailable
from crm.oauth_state import Flow, state_issue
from crm.providers.hubspot import tokens
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import PROVIDER, HubSpotError
from crm.providers.hubspot.models import HubSpotConnection
from crm.providers.hubspot.services import connection_for_account
from crm.records import Identity
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

CONNECT_FINISH = "hubspot:oauth-callback"  # the view that completes a connect (views.py)
HUB_CLAIMED = (
    "The HubSpot portal {name} is already connected to another Leadline organization, so it was not connected "
    "here; the sign-in was discarded. If this portal is yours, contact Leadline support."
)
OTHER_HUB = (
    "This account was connected to the HubSpot portal {previous}; you chose the portal {new}, so nothing was "
    "changed (the account's mirrored records and members' HubSpot owners belong to {previous}). To use {new}, add "
    "another HubSpot account and connect that one; choose {previous} to reconnect this one."
)
FLOW = ConnectFlow(
    kind=PROVIDER,
    model=HubSpotConnection,
    claimed_message=HUB_CLAIMED,
    other_org_message=OTHER_HUB,
    org_word="hub",
    logger=logger,
)


# --- where HubSpot is, and as which app (hosts.py decides; its refusal is a setup problem here) -------------------
def _hosts():
    from crm.providers.hubspot import hosts

    return hosts


def _setup_refused(exc: Exception) -> CrmRejected:
    return CrmRejected(str(getattr(exc, "message", exc)), provider=PROVIDER, code="host_refused")


def app_base(account: ProviderAccount | None = None) -> str:
    """Where people consent: HubSpot's app host, or the emulator an operator pointed the account at."""
    try:
        return _hosts().app_base(account)
    except HubSpotError as exc:
        raise _setup_refused(exc) from exc


def api_base(account: ProviderAccount | None = None) -> str:
    """The API and token host: HubSpot's, or the emulator an operator pointed the account at."""
    try:
        return _hosts().api_base(account)
    except HubSpotError as exc:
        raise _setup_refused(exc) from exc


def app_credentials(account: ProviderAccount | None = None) -> tuple[str, str]:
    """(client id, client secret): the account's own app when it has one, else Leadline's public app."""
    if account is not None:
        return _hosts().app_credentials(account)
    return str(hubspot_settings.CLIENT_ID), str(hubspot_settings.CLIENT_SECRET)


def redirect_uri() -> str:
    """Where HubSpot sends people back (the app's redirect URL): the one callback of every CRM flow."""
    return hubspot_settings.OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def http_session(role: str = "hubspot-oauth") -> requests.Session:
    """The HTTP session of both flows: the token timeouts, no retries (a code is single use)."""
    return make_session(role, timeout=hubspot_settings.TOKEN_TIMEOUT, retries=0)


# --- the exchanges both flows make ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenInfo:
    """What HubSpot says of an access token: its portal, the user who granted it, the app, the scopes."""

    hub_id: str
    hub_domain: str
    user: str  # the user's e-mail
    user_id: str
    app_id: str
    scopes: tuple[str, ...]


def consent_url(
    *, base: str, client_id: str, redirect_to: str, scopes: str, optional_scopes: str = "", state: str
) -> str:
    params = {"client_id": client_id, "redirect_uri": redirect_to, "scope": " ".join(scopes.split())}
    if optional_scopes.strip():
        params["optional_scope"] = " ".join(optional_scopes.split())
    params["state"] = state
    return f"{base}/oauth/authorize?{urlencode(params, quote_via=quote)}"


def _unavailable(what: str, exc: Exception | None = None, status: int | None = None) -> CrmUnavailable:
    reason = f"HTTP {status}" if status else type(exc).__name__ if exc else "no answer"
    return CrmUnavailable(f"HubSpot did not answer {what} ({reason}); try again in a minute.", provider=PROVIDER)


def code_exchange(
    *, http: requests.Session, base: str, client_id: str, client_secret: str, redirect_to: str, code: str
) -> Any:
    """The tokens for an authorization code (a tokens.TokenAnswer). CrmUnavailable if HubSpot did not answer;
    CrmAuthError if it refused (a used or expired code, a redirect URL the app does not have)."""
    if not code:
        raise CrmAuthError("HubSpot sent no authorization code; start again.", provider=PROVIDER, code="no_code")
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_to,
        "code": code,
    }
    path = "/" + str(hubspot_settings.TOKEN_PATH).lstrip("/")
    try:
        response = http.post(f"{base}{path}", data=form, headers={"Accept": "application/json"})
    except outbound.OutboundRefused as exc:
        raise CrmRejected(exc.message, provider=PROVIDER, code="host_refused") from exc
    except requests.RequestException as exc:
        raise _unavailable("the sign-in", exc) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise _unavailable("the sign-in", status=response.status_code)
    body = json_object(response)
    access = str(body.get("access_token") or body.get("accessToken") or "")
    if response.status_code >= 400 or not access:
        error = str(body.get("error") or body.get("category") or "")
        detail = str(body.get("error_description") or body.get("message") or "")
        reason = ": ".join(part for part in (error, detail) if part) or f"HTTP {response.status_code}"
        raise CrmAuthError(
            f"HubSpot refused the sign-in ({reason}); start again.",
            provider=PROVIDER,
            code=error or "token_refused",
            status=response.status_code,
        )
    from crm.providers.hubspot.tokens import TokenAnswer

    return TokenAnswer.parse(body)  # either shape (v1 snake_case, date-versioned camelCase)


def token_info(*, http: requests.Session, base: str, access_token: str) -> TokenInfo:
    """HubSpot's word on an access token (GET /oauth/v1/access-tokens/<token>): portal, user, app, scopes."""
    try:
        response = http.get(
            f"{base}{_hosts().Paths.token_info(quote(access_token, safe=''))}", headers={"Accept": "application/json"}
        )
    except outbound.OutboundRefused as exc:
        raise CrmRejected(exc.message, provider=PROVIDER, code="host_refused") from exc
    except requests.RequestException as exc:
        raise _unavailable("who you are", exc) from exc
    if response.status_code != 200:
        if response.status_code >= 500 or response.status_code == 429:
            raise _unavailable("who you are", status=response.status_code)
        raise CrmAuthError(
            "HubSpot did not say which portal this is; start again.", provider=PROVIDER, code="no_token_info"
        )
    body = json_object(response)
    scopes = body.get("scopes") or []
    return TokenInfo(
        hub_id=str(body.get("hub_id") or body.get("hubId") or ""),
        hub_domain=str(body.get("hub_domain") or body.get("hubDomain") or ""),
        user=str(body.get("user") or ""),
        user_id=str(body.get("user_id") or body.get("userId") or ""),
        app_id=str(body.get("app_id") or body.get("appId") or ""),
        scopes=tuple(str(scope) for scope in (scopes.split() if isinstance(scopes, str) else scopes)),
    )


def owner_of_user(*, http: requests.Session, base: str, access_token: str, user_id: str) -> dict[str, Any]:
    """The owner record of a HubSpot user ({} when the user owns nothing, or the answer cannot be read: the
    connection works without it; the admin shows no owner id)."""
    if not user_id:
        return {}
    try:
        response = http.get(
            f"{base}{_hosts().Paths().owners(quote(user_id, safe=''))}",
            params={"idProperty": "userId"},
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        body = json_object(response) if response.status_code == 200 else {}
    except (requests.RequestException, outbound.OutboundRefused):
        logger.info("hubspot.oauth.owner_unread", user_id=user_id)
        return {}
    return body


def owner_identity(info: TokenInfo, owner: Mapping[str, Any]) -> Identity:
    """Who this is, as the rest of Leadline knows HubSpot people: the portal, and the user as the owner id their
    records carry (members are linked by it), with the e-mail and name."""
    name = " ".join(str(owner.get(key) or "").strip() for key in ("firstName", "lastName")).strip()
    return Identity(
        org_id=info.hub_id,
        org_name=info.hub_domain,
        user_id=str(owner.get("id") or ""),
        user_email=str(owner.get("email") or info.user),
        user_name=name,
        user_active=owner.get("archived") is not True,
    )


def token_revoke(*, http: requests.Session, base: str, refresh_token: str, **log: Any) -> str:
    """Revoke a refresh token (DELETE /oauth/v1/refresh-tokens/<token>); best effort. "" when it worked, else what
    went wrong (the token is stored nowhere either way)."""
    if not refresh_token:
        return ""
    try:
        response = http.delete(f"{base}/oauth/v1/refresh-tokens/{quote(refresh_token, safe='')}")
    except (requests.RequestException, outbound.OutboundRefused) as exc:
        logger.warning("hubspot.oauth.revoke_failed", reason=type(exc).__name__, **log)
        return f"HubSpot could not be reached to revoke the token ({type(exc).__name__})"
    if response.status_code >= 400 and response.status_code != 404:  # 404: already gone
        logger.warning("hubspot.oauth.revoke_failed", status=response.status_code, **log)
        return f"HubSpot answered HTTP {response.status_code} to the revocation"
    return ""


# --- start ----------------------------------------------------------------------------------------------------------
def authorize_url(account: ProviderAccount, *, session: Any, options: Mapping[str, str] | None = None) -> str:
    """HubSpot's consent URL for an account; remembers a nonce in the person's session. `options`:
    `optional_scopes` (space separated) asked for beyond HUBSPOT_SCOPES."""
    if account.kind != ProviderKind.HUBSPOT:
        raise CrmRejected("Only HubSpot accounts connect to HubSpot.", provider=PROVIDER, code="bad_request")
    client_id, client_secret = app_credentials(account)
    if not client_id or not client_secret:
        raise CrmRejected(
            "HubSpot is not configured on this server (HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET), and the "
            "account has no app credentials of its own.",
            provider=PROVIDER,
            code="not_configured",
        )
    state = state_issue(session=session, kind=PROVIDER, flow=Flow.CONNECT, finish=CONNECT_FINISH, account=account.pk)
    return consent_url(
        base=app_base(account),
        client_id=client_id,
        redirect_to=redirect_uri(),
        scopes=hubspot_settings.SCOPES,
        optional_scopes=str((options or {}).get("optional_scopes") or ""),
        state=state,
    )


def state_account_id(*, state: str, session: Any) -> int:
    """The account a connect's `state` was issued for, if it is genuine, fresh and from this session (single
    use). CrmAuthError "bad_state" otherwise."""
    return FLOW.state_claim(state=state, session=session)["account"]


# --- finish ---------------------------------------------------------------------------------------------------------
def finish_connect(
    account: ProviderAccount, *, params: Mapping[str, str], session: Any, connected_by: str = ""
) -> Identity:
    """HubSpot's callback for `account`: the state must be one this session started for it; then the code is
    exchanged, the portal and user read, and the refresh token stored."""
    FLOW.state_claim(state=str(params.get("state") or ""), session=session, account=account)
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise _failed(account, CrmAuthError(f"HubSpot sign-in did not complete: {detail}", code="denied"))
    client_id, client_secret = app_credentials(account)
    base = api_base(account)
    http = http_session()
    try:
        answer = code_exchange(
            http=http,
            base=base,
            client_id=client_id,
            client_secret=client_secret,
            redirect_to=redirect_uri(),
            code=str(params.get("code") or ""),
        )
    except CrmError as exc:
        raise _failed(account, exc) from exc
    if not answer.refresh_token:
        raise _failed(account, CrmAuthError("HubSpot sent no refresh token; start again.", code="no_refresh_token"))
    try:
        info = token_info(http=http, base=base, access_token=answer.access_token)
        if not info.hub_id:
            raise CrmAuthError("HubSpot did not say which portal this is; start again.", code="no_token_info")
    except CrmError as exc:
        token_revoke(http=http, base=base, refresh_token=answer.refresh_token, account_id=account.pk)
        raise _failed(account, exc) from exc
    owner = owner_of_user(http=http, base=base, access_token=answer.access_token, user_id=info.user_id)
    identity = owner_identity(info, owner)
    claim = {"account": account, "identity": identity, "connected_by": connected_by}
    claim["revoke"] = lambda: token_revoke(
        http=http, base=base, refresh_token=answer.refresh_token, account_id=account.pk
    )
    refused = FLOW.claim_refusal(**claim)  # another tenant's portal, or not the one this account was connected to
    if refused:
        raise refused
    try:
        _connected(account=account, answer=answer, info=info, identity=identity, connected_by=connected_by)
    except IntegrityError as exc:  # two connects of one portal at once: the constraint lets the first one win
        refused = FLOW.claim_lost(**claim)
        if not refused:
            raise
        raise refused from exc
    logger.info(
        "hubspot.connection.connected",
        account_id=account.pk,
        organization_id=account.organization_id,
        hub_id=info.hub_id,
        owner_found=bool(identity.user_id),
    )
    return identity


@transaction.atomic
def _connected(
    *, account: ProviderAccount, answer: Any, info: TokenInfo, identity: Identity, connected_by: str
) -> HubSpotConnection:
    tokens.token_cache_clear(account=account)  # the old refresh token's cached access token
    account.refresh_token = answer.refresh_token
    account.save(update_fields=["refresh_token", "updated_at"])
    connection = connection_for_account(account=account)
    connection_state.connection_connected(connection, connected_by=connected_by)
    connection.hub_id = info.hub_id
    connection.hub_domain = info.hub_domain[:253]
    connection.app_id = info.app_id[:20]
    connection.user_id = info.user_id[:20]
    connection.owner_id = identity.user_id[:20]
    connection.user_email = identity.user_email[:254]
    connection.scopes = " ".join(info.scopes)
    connection.save()
    # The broker starts from the exchange's access token, so the first calls need no refresh.
    tokens.token_answer_apply(
        account=account,
        body={
            "access_token": answer.access_token,
            "refresh_token": answer.refresh_token,
            "expires_in": answer.expires_in,
            "hub_id": info.hub_id,
            "user_id": info.user_id,
        },
    )
    return connection


_failed = FLOW.failed  # the error to raise, named as HubSpot's, once the connection shows it


# --- disconnect -----------------------------------------------------------------------------------------------------
def disconnect(account: ProviderAccount) -> HubSpotConnection:
    """Revoke the refresh token at HubSpot, then forget it. If HubSpot cannot be reached the token is still dropped
    here (we stop using it at once), and the connection says so, so it can be removed in HubSpot (uninstalling the
    app from the portal ends it too)."""
    try:
        problem = token_revoke(
            http=http_session(),
            base=api_base(account),
            refresh_token=tokens.reveal(account.refresh_token),
            account_id=account.pk,
        )
    except CrmRejected as exc:  # the account names a host we will not call: forget the token all the same
        problem = f"the token was not sent to revoke ({exc.message})"
    tokens.token_cache_clear(account=account)
    connection = connection_state.connection_disconnected(
        HubSpotConnection,
        account=account,
        problem=problem,
        advice="uninstall Leadline in HubSpot (Settings > Integrations > Connected apps).",
    )
    logger.info("hubspot.connection.disconnected", account_id=account.pk, revoked=not problem)
    return connection
