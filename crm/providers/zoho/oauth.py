"""The "Connect Zoho" flow (server-based OAuth, docs/vendors/zoho-accounts.md): authorize URL, code exchange,
disconnect.

The person is sent to the accounts server of the data centre they chose (or the account's own); Zoho sends them
back with `code`, `location` and `accounts-server`, and the code is exchanged at *that* server, which must be one
of Zoho's own accounts servers (core/outbound.py), one an operator added (ZOHO_ACCOUNTS_SERVERS), or the account's
own when an operator set it (the sandbox): our client secret is never posted to a host named in a URL someone could
forge, or that a manager typed. The `api_domain` in Zoho's answer must be a Zoho API domain too (or the operator's
emulator) before the identity is read there. The refresh token is stored encrypted on the ProviderAccount, the
accounts server and `api_domain` are saved (the data centre is detected), and for CRM accounts the authorising
user and the Zoho org id are fetched and shown on the connection.

A Zoho org is held by one connected CRM account (a database constraint): the first verified connection keeps it,
and a later claim is refused with a message for the manager and a warning for operators, storing nothing, so no
tenant can take over, or lock another out of, a CRM org it does not hold.

"Sign in with Zoho" (sign_in.py) is the same flow with Leadline's own client and no lasting grant: it shares the
state (crm/oauth_state.py: signed, expires after STATE_MAX_AGE, bound by a nonce to the browser that started it, so
a callback from someone else's browser or a replayed one is refused; the state says which flow it is, so one
callback serves both), the accounts-server checks, the code exchange, the identity read and the revocation below.
No vendor call happens inside a database transaction: the callback view is non-atomic and writes afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import structlog

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import outbound
from core.exceptions import ApplicationError
from core.http import make_session
from crm.errors import CrmAuthError
from crm.oauth_state import Flow, state_claim, state_issue
from crm.providers.zoho import tokens
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.data_centres import ZOHO_ACCOUNTS_HOSTS, ZOHO_DATA_CENTRES
from crm.providers.zoho.errors import ZohoExchangeFailed as ExchangeFailed  # the family's (errors.py)
from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.services import connection_error_record, connection_for_account
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

PROVIDER = "zoho"  # the CRM kind (crm.registry) in the flows' states
CONNECT_FINISH = "zoho:oauth-callback"  # the view that completes a connect (views.py)
# Zoho's data centres (data_centres.py). "account" means: the accounts server stored on the ProviderAccount.
DATA_CENTRES = {code: f"https://{dc.accounts}" for code, dc in ZOHO_DATA_CENTRES.items()}
ORG_CLAIMED = (
    "The Zoho org {name} is already connected to another Leadline organization, so it was not connected here; "
    "the sign-in was discarded. If this org is yours, contact Leadline support."
)
DATA_CENTRE_CHOICES = [("account", "Detect (start at the account's accounts server)")] + [
    (code, f"{code.upper()}: {url}") for code, url in DATA_CENTRES.items()
]


def redirect_uri() -> str:
    return zoho_settings.OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/zoho/oauth/callback/"


def scopes_for(account: ProviderAccount) -> list[str]:
    return zoho_settings.VOICE_SCOPES if account.kind == ProviderKind.ZOHO_VOICE else zoho_settings.CRM_SCOPES


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _zoho_accounts_server(url: str) -> bool:
    return outbound.vendor_url_allowed(kind="zoho_crm", field="accounts_url", url=url)


def accounts_servers_trusted(*, also: Iterable[str] = ()) -> set[str]:
    """Where a grant code (and a client secret) may go: Zoho's own accounts servers, those an operator listed in
    ZOHO_ACCOUNTS_SERVERS, and `also` (origins the caller vouches for)."""
    trusted = {f"https://{host}" for host in ZOHO_ACCOUNTS_HOSTS}
    trusted |= {_origin(url) for url in [*zoho_settings.ACCOUNTS_SERVERS, *also] if url}
    return trusted - {""}


def trusted_accounts_servers(account: ProviderAccount) -> set[str]:
    """Where this account's grant code may go: the trusted servers, and the account's own only if it is Zoho's or
    an operator set it."""
    own = outbound.origin_of(account.accounts_url or "")
    return accounts_servers_trusted(
        also=[own] if own and (account.custom_endpoints or _zoho_accounts_server(own)) else []
    )


def api_domain_check(*, account: ProviderAccount | None, server: str, api_domain: str) -> str:
    """The API domain from a token answer, if the identity may be read there: a Zoho API domain, or (for an
    emulator an operator set up) the accounts server's own origin or the account's operator-set API domain."""
    origin = outbound.origin_of(api_domain)
    if origin and outbound.vendor_url_allowed(kind="zoho_crm", field="api_domain", url=origin):
        return origin
    emulator = {server} if server and not _zoho_accounts_server(server) else set()
    if account is not None and account.custom_endpoints:
        emulator |= {outbound.origin_of(account.api_domain or ""), outbound.origin_of(account.accounts_url or "")}
    if origin and origin in emulator - {""}:
        return origin
    raise ApplicationError(f"Zoho's answer named {api_domain or 'no API domain'}, which is not a Zoho API domain.")


def http_session(role: str = "zoho-oauth") -> requests.Session:
    """The HTTP session of both flows (sign_in.py too): Zoho Accounts' timeouts, no retries (a code is single use)."""
    timeout = (zoho_settings.HTTP_CONNECT_TIMEOUT_SECONDS, zoho_settings.ACCOUNTS_TIMEOUT_SECONDS)
    return make_session(role, timeout=timeout, retries=0)


# --- what both flows do with Zoho -------------------------------------------------------------------------------
def code_exchange(
    *, http: requests.Session, server: str, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> dict[str, Any]:
    """Zoho's token answer for a grant code, exchanged at `server` (already checked as trusted)."""
    try:
        body = http.post(
            f"{server}/oauth/v2/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
        ).json()
    except outbound.OutboundRefused as exc:
        raise ExchangeFailed("refused", exc.message) from exc
    except (requests.RequestException, ValueError) as exc:
        raise ExchangeFailed("unreachable", type(exc).__name__) from exc
    # Zoho answers errors with HTTP 200 and an `error` key (docs/vendors/zoho-accounts.md, Tokens): the body decides.
    if not isinstance(body, dict) or body.get("error") or not body.get("access_token"):
        raise ExchangeFailed("error", str(body.get("error") if isinstance(body, dict) else "unexpected answer"))
    return body


def identity_read(*, http: requests.Session, api_domain: str, access_token: str) -> tuple[dict, dict]:
    """Zoho's CurrentUser and org rows ({} for one Zoho did not give), asked with a flow's access token at an API
    domain `api_domain_check` allowed. Raises what requests and the outbound guard raise."""
    headers = {"Authorization": f"Zoho-oauthtoken {access_token}"}
    users = http.get(f"{api_domain}/crm/v8/users", params={"type": "CurrentUser"}, headers=headers)
    org = http.get(f"{api_domain}/crm/v8/org", headers=headers)
    user_rows = users.json().get("users") if users.status_code == 200 else None
    org_rows = org.json().get("org") if org.status_code == 200 else None
    user = user_rows[0] if isinstance(user_rows, list) and user_rows and isinstance(user_rows[0], dict) else {}
    org_row = org_rows[0] if isinstance(org_rows, list) and org_rows and isinstance(org_rows[0], dict) else {}
    return user, org_row


def token_revoke(*, http: requests.Session, server: str, refresh_token: str, **log: Any) -> None:
    """Revoke a refresh token we will not keep (revoking it also ends its access tokens); best effort."""
    try:
        http.post(f"{server}/oauth/v2/token/revoke", params={"token": refresh_token})
    except (requests.RequestException, outbound.OutboundRefused):
        # The token is stored nowhere; an unrevoked one shows in the user's Zoho "Connected Apps".
        logger.exception("zoho.oauth.revoke_failed", **log)


# --- start ------------------------------------------------------------------------------------------------------
def connect_start(*, account: ProviderAccount, session: Any, data_centre: str = "account") -> str:
    """The Zoho consent URL for an account; remembers a nonce in the person's session."""
    if account.kind not in tokens.ZOHO_KINDS:
        raise ApplicationError("Only Zoho CRM and Zoho Voice accounts connect to Zoho.")
    if not account.client_id or not account.client_secret:
        raise ApplicationError("Enter the account's client ID and client secret (Zoho API console) first.")
    if data_centre == "account":
        accounts_url = account.accounts_url or DATA_CENTRES["us"]
        if outbound.origin_of(accounts_url) not in trusted_accounts_servers(account):
            raise ApplicationError(
                f"{accounts_url} is not a Zoho accounts server; choose your data centre, or ask an operator."
            )
    elif data_centre in DATA_CENTRES:
        accounts_url = DATA_CENTRES[data_centre]
    else:
        raise ApplicationError(f"Unknown data centre {data_centre!r}.")
    state = state_issue(session=session, kind=PROVIDER, flow=Flow.CONNECT, finish=CONNECT_FINISH, account=account.pk)
    params = {
        "scope": ",".join(scopes_for(account)),
        "client_id": account.client_id,
        "response_type": "code",
        "access_type": "offline",
        "prompt": "consent",  # Zoho hands out a refresh token only on consent (a reconnect needs a new one)
        "redirect_uri": redirect_uri(),
        "state": state,
    }
    return f"{accounts_url.rstrip('/')}/oauth/v2/auth?{urlencode(params)}"


def state_account_id(*, state: str, session: Any) -> int:
    """The account a connect's `state` was issued for, if it is genuine, fresh and from this session (single use)."""
    try:
        issued = state_claim(state=state, session=session)
    except CrmAuthError as exc:
        raise ApplicationError(exc.message.replace("This sign-in", "This Zoho sign-in")) from exc
    if issued.kind != PROVIDER or issued.flow != Flow.CONNECT or "account" not in issued.data:
        raise ApplicationError("This Zoho sign-in link is not a connection's; start again.")
    return int(issued.data["account"])


# --- finish -----------------------------------------------------------------------------------------------------
def accounts_server_check(*, account: ProviderAccount, accounts_server: str) -> str:
    """The accounts server to exchange the code at: Zoho's `accounts-server`, if it is one we trust."""
    wanted = outbound.origin_of(accounts_server or account.accounts_url or DATA_CENTRES["us"])
    if not wanted or wanted not in trusted_accounts_servers(account):
        raise ApplicationError(f"{accounts_server} is not a Zoho accounts server; the connection was not made.")
    return wanted


def connect_finish(
    *, account: ProviderAccount, code: str, accounts_server: str = "", location: str = "", connected_by: str = ""
) -> ZohoConnection:
    """Exchange the grant code, store the refresh token encrypted and record who connected which Zoho org."""
    try:
        server = accounts_server_check(account=account, accounts_server=accounts_server)
    except ApplicationError as exc:
        raise _failed(account, exc.message) from exc
    try:
        body = code_exchange(
            http=http_session(),
            server=server,
            client_id=account.client_id,
            client_secret=tokens.reveal(account.client_secret),
            redirect_uri=redirect_uri(),
            code=code,
        )
    except ExchangeFailed as exc:
        if exc.reason == "refused":
            raise _failed(account, f"{exc.detail} The connection was not made.") from exc
        if exc.reason == "unreachable":
            raise _failed(account, f"Zoho accounts server {server} did not answer ({exc.detail}).") from exc
        raise _failed(account, f"Zoho refused the sign-in ({exc.detail}); start again.") from exc
    if not body.get("refresh_token"):
        raise _failed(account, "Zoho sent no refresh token (offline access was not granted); start again.")
    try:
        api_domain = api_domain_check(
            account=account, server=server, api_domain=str(body.get("api_domain") or account.api_domain or "")
        )
    except ApplicationError as exc:
        _revoke(account, server, body["refresh_token"])
        raise _failed(account, f"{exc.message} The connection was not made.") from exc
    identity = _identity(account, body["access_token"], api_domain)
    org_id = identity.get("zoho_org_id", "")
    if org_id and _org_claimed_elsewhere(account=account, org_id=org_id):
        raise _claim_refused(account, server, body["refresh_token"], identity, connected_by)
    try:
        return _connected(
            account=account,
            refresh_token=body["refresh_token"],
            accounts_url=server,
            api_domain=api_domain,
            location=location,
            scopes=str(body.get("scope") or ""),
            identity=identity,
            connected_by=connected_by,
        )
    except IntegrityError as exc:  # two connects of one org at once: the constraint lets the first one win
        if not org_id or not _org_claimed_elsewhere(account=account, org_id=org_id):
            raise
        raise _claim_refused(account, server, body["refresh_token"], identity, connected_by) from exc


def _claim_refused(
    account: ProviderAccount, server: str, refresh_token: str, identity: dict[str, str], connected_by: str
) -> ApplicationError:
    """Another tenant holds this Zoho org: keep nothing (revoke the new token), tell the manager, warn operators."""
    _revoke(account, server, refresh_token)
    org_id = identity.get("zoho_org_id", "")
    logger.warning(
        "zoho.connection.org_claim_refused",
        account_id=account.pk,
        organization_id=account.organization_id,
        zoho_org_id=org_id,
        connected_by=connected_by,
    )
    name = f"{identity.get('zoho_org_name') or ''} ({org_id})".strip()
    return _failed(account, ORG_CLAIMED.format(name=name))


def _org_claimed_elsewhere(*, account: ProviderAccount, org_id: str) -> bool:
    """Whether another connection holds this Zoho org (connected, or waiting to be reconnected)."""
    return (
        ZohoConnection.objects.unscoped()  # a claim is checked across every tenant, and only answered yes/no
        .filter(zoho_org_id=org_id)
        .exclude(state=ZohoConnection.State.NOT_CONNECTED)
        .exclude(account=account)
        .exists()
    )


def _revoke(account: ProviderAccount, server: str, refresh_token: str) -> None:
    token_revoke(http=http_session(), server=server, refresh_token=refresh_token, account_id=account.pk)


def _identity(account: ProviderAccount, access_token: str, api_domain: str) -> dict[str, str]:
    """The CRM user who consented and their Zoho org (CRM accounts only; Voice tokens have no CRM scope)."""
    if account.kind != ProviderKind.ZOHO_CRM or not api_domain:
        return {}
    try:
        user, org_row = identity_read(http=http_session(), api_domain=api_domain, access_token=access_token)
    except (requests.RequestException, ValueError, AttributeError, outbound.OutboundRefused):
        # The connection itself worked; who it belongs to is shown once Zoho answers (logged for operators).
        logger.exception("zoho.oauth.identity_failed", account_id=account.pk)
        return {}
    return {
        "zoho_user_id": str(user.get("id") or ""),
        "zoho_user_email": str(user.get("email") or ""),
        "zoho_user_name": str(user.get("full_name") or ""),
        "zoho_org_id": str(org_row.get("id") or ""),
        "zoho_org_name": str(org_row.get("company_name") or ""),
    }


@transaction.atomic
def _connected(
    *,
    account: ProviderAccount,
    refresh_token: str,
    accounts_url: str,
    api_domain: str,
    location: str,
    scopes: str,
    identity: dict[str, str],
    connected_by: str,
) -> ZohoConnection:
    tokens.token_cache_clear(account=account)  # the old refresh token's cache entries
    account.refresh_token = refresh_token
    account.accounts_url = accounts_url
    update = ["refresh_token", "accounts_url", "updated_at"]
    if account.kind == ProviderKind.ZOHO_CRM and api_domain:
        account.api_domain = api_domain
        update.append("api_domain")
    account.save(update_fields=update)
    connection = connection_for_account(account=account)
    connection.state = ZohoConnection.State.CONNECTED
    connection.location = location[:16]
    connection.scopes = scopes
    connection.connected_at = timezone.now()
    connection.connected_by = connected_by
    connection.last_error = ""
    connection.last_error_at = None
    for field, value in identity.items():
        setattr(connection, field, value)
    connection.save()
    return connection


def _failed(account: ProviderAccount, message: str) -> ApplicationError:
    connection_error_record(account=account, message=message)
    return ApplicationError(message)


def connect_refused(*, account: ProviderAccount, error: str) -> ZohoConnection:
    """Zoho sent the person back with an error (they rejected consent, or the scope was refused)."""
    return connection_error_record(account=account, message=f"Zoho sign-in did not complete: {error}")


# --- disconnect -------------------------------------------------------------------------------------------------
def disconnect(*, account: ProviderAccount) -> ZohoConnection:
    """Revoke the refresh token at Zoho, then forget it. If Zoho cannot be reached the token is still dropped
    here (we stop using it at once), and the connection says so, so it can be revoked in Zoho's console."""
    refresh_token = tokens.reveal(account.refresh_token)
    problem = ""
    if refresh_token:
        try:
            response = http_session().post(
                f"{account.accounts_url.rstrip('/')}/oauth/v2/token/revoke", params={"token": refresh_token}
            )
            if response.status_code >= 400:
                problem = f"Zoho answered HTTP {response.status_code} to the revocation"
        except (requests.RequestException, outbound.OutboundRefused) as exc:
            problem = f"Zoho could not be reached to revoke the token ({type(exc).__name__})"
    tokens.token_cache_clear(account=account)
    with transaction.atomic():
        account.refresh_token = ""
        account.save(update_fields=["refresh_token", "updated_at"])
        connection = connection_for_account(account=account)
        connection.state = ZohoConnection.State.NOT_CONNECTED
        connection.last_error = f"{problem}; revoke it in Zoho's API console (Connected Apps)." if problem else ""
        connection.last_error_at = timezone.now() if problem else None
        connection.save()
    return connection
