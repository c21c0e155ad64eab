""" "Sign in with Zoho": Zoho tells us who is at the keyboard; the browser never does (docs/vendors/zoho-crm.md,
Widgets and user identity).

1. `sign_in_start` sends the person to Zoho's consent page with our sign-in client, the two read scopes that
   identify them, `access_type=online` (no refresh token is ever issued) and a signed `state` bound to this
   browser (a nonce kept in a signed cookie, so an anonymous start writes no session row), valid 15 minutes,
   single use: the same protection as "Connect Zoho".
2. Zoho sends them back with `code` and `accounts-server`; the code is exchanged at that server only if it is
   one of Zoho's own accounts servers (core/outbound.py), one listed in ZOHO_ACCOUNTS_SERVERS, or our configured
   one, so our client secret never goes to a host named in a forged URL.
3. With the access token we ask Zoho `GET /crm/v8/users?type=CurrentUser` and `GET /crm/v8/org` at the answer's
   `api_domain`, which must be a Zoho API domain (or, for an emulator configured as the accounts server, that
   emulator), then drop the token: it is never stored, and if Zoho sends a refresh token anyway it is revoked.
4. The Zoho org must be the Zoho org held by a connected CRM account (ZohoConnection.zoho_org_id, unique among
   connections that are not disconnected) of exactly one active organization;
   the CRM user id maps to that organization's Membership.zoho_user_id. Nothing else (e-mail, names, anything
   the widget says) is used to match.
No vendor call happens inside a database transaction: the callback view is non-atomic.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import structlog

from django.conf import settings
from django.core import signing

from core import outbound
from core.exceptions import ApplicationError
from core.http import make_session
from crm.providers.zoho.data_centres import ZOHO_ACCOUNTS_HOSTS
from crm.providers.zoho.models import ZohoConnection
from studios.models import Membership, Organization, ProviderKind

logger = structlog.get_logger(__name__)

STATE_SALT = "identity.zoho_sign_in.state"
STATE_MAX_AGE = 15 * 60
SESSION_NONCES = "accounts_zoho_sign_in_nonces"
SCOPES = ("ZohoCRM.users.READ", "ZohoCRM.org.READ")
MODES = ("page", "widget")
ACCESS_TYPE = "online"  # Zoho issues no refresh token: nothing of the user's outlives the sign-in


class SignInRefused(ApplicationError):
    """The sign-in cannot go on; `reason` is a stable code for the page and the widget."""

    def __init__(self, message: str, *, reason: str, extra: dict[str, Any] | None = None):
        super().__init__(message, extra={"reason": reason, **(extra or {})})
        self.reason = reason


@dataclass(frozen=True)
class ZohoIdentity:
    """Who Zoho says signed in, and in which Zoho org."""

    user_id: str
    email: str
    name: str
    status: str
    org_id: str
    org_name: str


@dataclass(frozen=True)
class SignInMatch:
    """The result of matching an identity: a member, or (membership None) a person nobody added yet."""

    identity: ZohoIdentity
    organization: Organization
    membership: Membership | None
    inactive: bool = False  # a membership exists but is switched off


def redirect_uri() -> str:
    return settings.ZOHO_SIGNIN_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/auth/zoho/callback"


def _origin(url: str) -> str:
    parts = urlsplit((url or "").strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _session() -> requests.Session:
    timeout = (settings.ZOHO_HTTP_CONNECT_TIMEOUT_SECONDS, settings.ZOHO_ACCOUNTS_TIMEOUT_SECONDS)
    return make_session("zoho-sign-in", timeout=timeout, retries=0)


# --- start ------------------------------------------------------------------------------------------------------
def sign_in_start(*, session: Any, mode: str) -> str:
    """Zoho's consent URL; remembers a nonce in `session`, the mapping the view keeps in the browser's cookie."""
    if not settings.ZOHO_SIGNIN_CLIENT_ID or not settings.ZOHO_SIGNIN_CLIENT_SECRET:
        raise SignInRefused("Sign in with Zoho is not configured on this server.", reason="not_configured")
    if mode not in MODES:
        raise SignInRefused(f"Unknown sign-in mode {mode!r}.", reason="bad_request")
    nonce = secrets.token_urlsafe(16)
    session[SESSION_NONCES] = [*session.get(SESSION_NONCES, [])[-4:], nonce]  # a few tabs may sign in at once
    state = signing.dumps({"nonce": nonce, "mode": mode}, salt=STATE_SALT)
    params = {
        "scope": ",".join(SCOPES),
        "client_id": settings.ZOHO_SIGNIN_CLIENT_ID,
        "response_type": "code",
        "access_type": ACCESS_TYPE,
        "redirect_uri": redirect_uri(),
        "state": state,
    }
    return f"{settings.ZOHO_SIGNIN_ACCOUNTS_URL.rstrip('/')}/oauth/v2/auth?{urlencode(params)}"


def sign_in_state_check(*, state: str, session: Any) -> str:
    """The mode a callback's `state` was issued for, if it is genuine, fresh, unused and from this session."""
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a BadSignature
        raise SignInRefused("This sign-in link is invalid or has expired; start again.", reason="bad_state") from exc
    nonces = list(session.get(SESSION_NONCES, []))
    if payload.get("nonce") not in nonces:
        raise SignInRefused("This sign-in was started in another browser session; start again.", reason="bad_state")
    nonces.remove(payload["nonce"])  # single use
    session[SESSION_NONCES] = nonces
    return payload.get("mode") if payload.get("mode") in MODES else "page"


# --- identify (Zoho calls; no transaction) ----------------------------------------------------------------------
def accounts_server_check(accounts_server: str) -> str:
    """Where the code may be exchanged: Zoho's `accounts-server`, if it is one we trust."""
    wanted = _origin(accounts_server or settings.ZOHO_SIGNIN_ACCOUNTS_URL)
    trusted = {f"https://{host}" for host in ZOHO_ACCOUNTS_HOSTS}
    trusted |= {_origin(url) for url in settings.ZOHO_ACCOUNTS_SERVERS} | {_origin(settings.ZOHO_SIGNIN_ACCOUNTS_URL)}
    if not wanted or wanted not in trusted:
        raise SignInRefused(f"{accounts_server} is not a Zoho accounts server.", reason="bad_accounts_server")
    return wanted


def sign_in_identify(*, code: str, accounts_server: str) -> ZohoIdentity:
    """Exchange the code, ask Zoho who this is and which org, and forget the token."""
    server = accounts_server_check(accounts_server)
    http = _session()
    try:
        body = http.post(
            f"{server}/oauth/v2/token",
            data={
                "grant_type": "authorization_code",
                "client_id": settings.ZOHO_SIGNIN_CLIENT_ID,
                "client_secret": settings.ZOHO_SIGNIN_CLIENT_SECRET,
                "redirect_uri": redirect_uri(),
                "code": code,
            },
        ).json()
    except outbound.OutboundRefused as exc:
        logger.warning("accounts.sign_in.accounts_server_refused", server=server, reason=exc.message)
        raise SignInRefused("Sign in with Zoho is not available right now.", reason="zoho_unavailable") from exc
    except (requests.RequestException, ValueError) as exc:
        raise SignInRefused("Zoho did not answer; try again in a minute.", reason="zoho_unavailable") from exc
    # Zoho answers errors with HTTP 200 and an `error` key (docs/vendors/zoho-accounts.md, Tokens): the body decides.
    if not isinstance(body, dict) or body.get("error") or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else "unexpected answer"
        raise SignInRefused(f"Zoho refused the sign-in ({error}); start again.", reason="zoho_refused")
    try:
        return _who(http, body, server)
    finally:
        # Online access gives no refresh token. Should Zoho send one anyway, it is revoked once used (revoking it
        # also ends its access token), so nothing of the user's outlives the sign-in.
        if body.get("refresh_token"):
            _revoke(http, server, body["refresh_token"])


def _who(http: requests.Session, body: dict[str, Any], server: str) -> ZohoIdentity:
    """CurrentUser and the org, asked with the access token of the sign-in, at a Zoho API domain only."""
    api_domain = (body.get("api_domain") or "").rstrip("/")
    if not api_domain:
        raise SignInRefused("Zoho sent no API domain; start again.", reason="zoho_refused")
    answered = outbound.origin_of(api_domain)
    zoho_server = outbound.vendor_url_allowed(kind="zoho_crm", field="accounts_url", url=server)
    if not outbound.vendor_url_allowed(kind="zoho_crm", field="api_domain", url=answered) and (
        zoho_server or answered != server  # an emulator an operator configured answers at its own origin
    ):
        logger.warning("accounts.sign_in.api_domain_refused", api_domain=api_domain, server=server)
        raise SignInRefused(f"Zoho named {api_domain}, which is not a Zoho API domain.", reason="zoho_refused")
    api_domain = answered
    headers = {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}
    try:
        users = http.get(f"{api_domain}/crm/v8/users", params={"type": "CurrentUser"}, headers=headers)
        org = http.get(f"{api_domain}/crm/v8/org", headers=headers)
        user_row = (users.json().get("users") or [{}])[0] if users.status_code == 200 else {}
        org_row = (org.json().get("org") or [{}])[0] if org.status_code == 200 else {}
    except outbound.OutboundRefused as exc:
        logger.warning("accounts.sign_in.api_domain_refused", api_domain=api_domain, reason=exc.message)
        raise SignInRefused(f"Zoho named {api_domain}, which may not be called.", reason="zoho_refused") from exc
    except (requests.RequestException, ValueError, AttributeError, IndexError) as exc:
        raise SignInRefused("Zoho did not say who you are; try again in a minute.", reason="zoho_unavailable") from exc
    if not user_row.get("id") or not org_row.get("id"):
        logger.warning(
            "accounts.sign_in.identity_missing",
            users_status=users.status_code,
            org_status=org.status_code,
        )
        raise SignInRefused(
            "Zoho did not say who you are (your Zoho CRM user may lack access); start again.", reason="zoho_refused"
        )
    return ZohoIdentity(
        user_id=str(user_row["id"]),
        email=str(user_row.get("email") or ""),
        name=str(user_row.get("full_name") or ""),
        status=str(user_row.get("status") or ""),
        org_id=str(org_row["id"]),
        org_name=str(org_row.get("company_name") or ""),
    )


def _revoke(http: requests.Session, server: str, refresh_token: str) -> None:
    try:
        http.post(f"{server}/oauth/v2/token/revoke", params={"token": refresh_token})
    except (requests.RequestException, outbound.OutboundRefused):
        # The token is dropped here either way; an unrevoked one shows in the user's Zoho "Connected Apps".
        logger.exception("accounts.sign_in.revoke_failed")


# --- match (database) -------------------------------------------------------------------------------------------
def sign_in_match(*, identity: ZohoIdentity) -> SignInMatch:
    """The organization whose connected Zoho org this is, and the member with this Zoho CRM user id (if any)."""
    organization_ids = set(
        ZohoConnection.objects.unscoped()  # the tenant is being established here, from Zoho's answer
        .filter(zoho_org_id=identity.org_id, account__kind=ProviderKind.ZOHO_CRM, organization__is_active=True)
        .exclude(state=ZohoConnection.State.NOT_CONNECTED)  # a disconnected row holds nothing (see its oauth.py)
        .values_list("organization_id", flat=True)
    )
    if len(organization_ids) != 1:
        if organization_ids:  # two customers claim one Zoho org: an operator must sort it out, nobody gets in
            logger.error(
                "accounts.sign_in.zoho_org_ambiguous",
                zoho_org_id=identity.org_id,
                organization_ids=sorted(organization_ids),
            )
        raise SignInRefused(
            f"The Zoho org {identity.org_name or identity.org_id} is not connected to Leadline.",
            reason="org_not_connected",
            extra={"zoho_org_id": identity.org_id, "zoho_org_name": identity.org_name, "email": identity.email},
        )
    organization = Organization.objects.unscoped().get(pk=organization_ids.pop())
    if identity.status and identity.status != "active":
        raise SignInRefused("Your Zoho CRM user is not active.", reason="zoho_user_inactive")
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user", "organization")
        .filter(zoho_user_id=identity.user_id)
        .first()
    )
    if membership is None:
        return SignInMatch(identity=identity, organization=organization, membership=None)
    if not membership.is_active or not membership.user.is_active:
        return SignInMatch(identity=identity, organization=organization, membership=None, inactive=True)
    return SignInMatch(identity=identity, organization=organization, membership=membership)
