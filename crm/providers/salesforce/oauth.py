"""Connect Salesforce: the OAuth 2.0 web server flow (docs/vendors/salesforce.md, OAuth 2.0), disconnect, identity.

1. `authorize_url` sends the manager to the login host (the account's: login.salesforce.com, test.salesforce.com
   for a sandbox org, or the org's My Domain; or one the manager picks) with the scopes `api refresh_token id
   openid`, the signed state of every CRM flow (crm/oauth_state.py: single use, bound to this browser, naming
   the account and the login host) and a PKCE challenge. The PKCE verifier is derived from the state with the
   project's key, so it is never stored nor sent through the browser.
2. Salesforce sends them back to /crm/oauth/callback, which hands a connect to views.py; `connect_finish` claims
   the state and exchanges the code at the login host the state names, only if it is one of Salesforce's own or
   the one an operator set on the account (our client secret never goes to a host a URL could name). The answer's
   `signature` is checked (HMAC-SHA256 of `id` + `issued_at` with the client secret) and its `instance_url` must
   be a Salesforce instance (`*.my.salesforce.com`) or, for an account an operator pointed at an emulator, that
   emulator. The refresh token is stored encrypted, the login host in accounts_url, the instance in api_domain.
3. Who connected: the org and user ids of the identity URL in the answer, with the name and e-mail from userinfo.

A Salesforce org is held by one connection (a database constraint, as for Zoho): a second organization's claim is
refused with a message, storing nothing and revoking the new token. No vendor call happens inside a database
transaction: the callback view is non-atomic and writes afterwards. Errors are crm.errors types, so the provider
passes them on as they are: CrmAuthError (the flow failed or was refused; a person starts again), CrmUnavailable
(Salesforce did not answer), CrmRejected (a setup problem: no client id, a login host we will not use).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import structlog

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core import outbound
from core.http import make_session
from crm.errors import CrmAuthError, CrmError, CrmRejected, CrmUnavailable
from crm.oauth_state import Flow, state_claim, state_issue
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import connection_error_record, connection_for_account
from crm.records import Identity, Priority
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

PROVIDER = "salesforce"  # the CRM kind (crm.registry) in the flows' states
CONNECT_FINISH = "salesforce:oauth-callback"  # the view that completes a connect (views.py)
SCOPES = ("api", "refresh_token", "id", "openid")
PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
LOGIN_CHOICES = [
    ("account", "The account's login host (production, or your My Domain)"),
    ("production", f"Production or Developer Edition org ({PRODUCTION_LOGIN})"),
    ("sandbox", f"Sandbox org ({SANDBOX_LOGIN})"),
]
ORG_CLAIMED = (
    "The Salesforce org {name} is already connected to another Leadline organization, so it was not connected "
    "here; the sign-in was discarded. If this org is yours, contact Leadline support."
)
OTHER_ORG = (
    "This account was connected to the Salesforce org {previous}; you signed in to the org {new}, so nothing was "
    "changed (the account's mirrored records and members' Salesforce users belong to {previous}). To use {new}, add "
    "another Salesforce account and connect that one; sign in to {previous} to reconnect this one."
)
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def redirect_uri() -> str:
    """Where Salesforce sends people back (the connected app's callback URL): the one callback of every CRM flow."""
    return salesforce_settings.OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def http_session(role: str = "salesforce-oauth") -> requests.Session:
    """The HTTP session of both flows (sign_in.py too): the token timeouts, no retries (a code is single use)."""
    return make_session(role, timeout=salesforce_settings.TOKEN_TIMEOUT, retries=0)


# --- ids ----------------------------------------------------------------------------------------------------------
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """A Salesforce id in its 18-character form (the API's, case-insensitive-safe); a 15-character id gains its
    checksum suffix. Anything else comes back as it is (the caller decides whether it is an id at all)."""
    text = (value or "").strip()
    if len(text) != 15 or not _SF_ID.match(text):
        return text
    suffix = ""
    for start in (0, 5, 10):
        chunk = text[start : start + 5]
        bits = sum(1 << position for position, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM[bits]
    return text + suffix


def is_id(value: str) -> bool:
    return bool(_SF_ID.match(value or ""))


def user_id_clean(value: str) -> str:
    """A member's Salesforce user id as Leadline stores it (the 18-character form the API and sign-in give, so a
    15-character id copied from a Salesforce page matches too); ValueError saying why for anything else."""
    text = (value or "").strip()
    if not is_id(text) or not text.startswith("005"):
        raise ValueError(f"{text!r} is not a Salesforce user id (15 or 18 letters and digits starting 005)")
    return id18(text)


def ids_from_identity_url(url: str) -> tuple[str, str]:
    """(org id, user id) from an identity URL `https://<login host>/id/<org id>/<user id>`; ("", "") if not one."""
    parts = [part for part in urlsplit(url or "").path.split("/") if part]
    if len(parts) >= 3 and parts[-3] == "id" and is_id(parts[-2]) and is_id(parts[-1]):
        return id18(parts[-2]), id18(parts[-1])
    return "", ""


# --- hosts --------------------------------------------------------------------------------------------------------
def _salesforce_login_host(url: str) -> bool:
    return outbound.vendor_url_allowed(kind=ProviderKind.SALESFORCE, field="accounts_url", url=url)


def login_host_trusted(account: ProviderAccount | None, url: str) -> str:
    """The origin to send a code (and a client secret) to, if we trust it: Salesforce's own login hosts, those an
    operator listed in SALESFORCE_LOGIN_SERVERS, or the account's own when an operator set it. "" otherwise."""
    origin = outbound.origin_of(url or "")
    if not origin:
        return ""
    if _salesforce_login_host(origin):
        return origin
    listed = {outbound.origin_of(server) for server in salesforce_settings.LOGIN_SERVERS} - {""}
    if origin in listed:
        return origin
    if account is not None and account.custom_endpoints and origin == outbound.origin_of(account.accounts_url or ""):
        return origin
    return ""


def instance_url_check(*, account: ProviderAccount | None, login: str, instance_url: str) -> str:
    """The instance origin from a token answer, if data calls may go there: a Salesforce instance, or (for an
    emulator an operator set up as the login host) that emulator, or the instance an operator set on the account.
    CrmAuthError otherwise: a token answer naming a foreign host is never followed."""
    origin = outbound.origin_of(instance_url or "")
    if origin and outbound.vendor_url_allowed(kind=ProviderKind.SALESFORCE, field="api_domain", url=origin):
        return origin
    emulator = {login} if login and not _salesforce_login_host(login) else set()
    if account is not None and account.custom_endpoints and account.api_domain:
        emulator.add(outbound.origin_of(account.api_domain))
    if origin and origin in emulator - {""}:
        return origin
    raise CrmAuthError(
        f"Salesforce's answer named {instance_url or 'no instance'}, which is not a Salesforce instance "
        "(*.my.salesforce.com).",
        provider=PROVIDER,
        code="bad_instance_url",
    )


# --- PKCE ---------------------------------------------------------------------------------------------------------
def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce_verifier(state: str) -> str:
    """The code verifier of a flow, derived from its signed state with the project's key: the callback computes it
    again, so nothing is stored and someone holding the code and the state still cannot redeem the code."""
    return _b64url(salted_hmac("crm.salesforce.pkce", state, algorithm="sha256").digest())


def pkce_challenge(state: str) -> str:
    return _b64url(hashlib.sha256(pkce_verifier(state).encode()).digest())


# --- what both flows do with Salesforce ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenAnswer:
    access_token: str
    refresh_token: str
    instance_url: str
    identity_url: str
    scope: str
    issued_at: str
    signature: str


def authorize_url_for(*, login: str, client_id: str, redirect_to: str, scopes: tuple[str, ...], state: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_to,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": pkce_challenge(state),
        "code_challenge_method": "S256",
    }
    return f"{login}/services/oauth2/authorize?{urlencode(params)}"


def code_exchange(
    *,
    http: requests.Session,
    login: str,
    client_id: str,
    client_secret: str,
    redirect_to: str,
    code: str,
    state: str,
) -> TokenAnswer:
    """Salesforce's token answer for an authorization code, exchanged at `login` (already checked as trusted).
    CrmUnavailable if Salesforce did not answer; CrmAuthError if it refused, or the answer is not genuine."""
    if not code:
        raise CrmAuthError("Salesforce sent no authorization code; start again.", provider=PROVIDER, code="no_code")
    try:
        response = http.post(
            f"{login}/services/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_to,
                "code_verifier": pkce_verifier(state),
            },
            headers={"Accept": "application/json"},
        )
    except outbound.OutboundRefused as exc:
        raise CrmRejected(f"{exc.message}", provider=PROVIDER, code="login_host_refused") from exc
    except requests.RequestException as exc:
        raise CrmUnavailable(
            f"Salesforce ({login}) did not answer ({type(exc).__name__}); try again in a minute.", provider=PROVIDER
        ) from exc
    if response.status_code >= 500:
        raise CrmUnavailable(
            f"Salesforce ({login}) answered HTTP {response.status_code}; try again in a minute.",
            provider=PROVIDER,
            status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError as exc:  # a page, not a token answer: not Salesforce's token endpoint, or a proxy's
        raise CrmAuthError(
            f"{login} did not answer as a Salesforce login host (HTTP {response.status_code}, no JSON); check the "
            "account's login host.",
            provider=PROVIDER,
            code="not_a_token_answer",
            status=response.status_code,
        ) from exc
    if not isinstance(body, dict) or body.get("error") or not body.get("access_token"):
        error = body.get("error", "") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        reason = ": ".join(part for part in (error, description) if part) or f"HTTP {response.status_code}"
        raise CrmAuthError(
            f"Salesforce refused the sign-in ({reason}); start again.",
            provider=PROVIDER,
            code=str(error or "token_refused"),
            status=response.status_code,
        )
    answer = TokenAnswer(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        instance_url=str(body.get("instance_url") or ""),
        identity_url=str(body.get("id") or ""),
        scope=str(body.get("scope") or ""),
        issued_at=str(body.get("issued_at") or ""),
        signature=str(body.get("signature") or ""),
    )
    if not signature_valid(answer, client_secret=client_secret):
        raise CrmAuthError(
            "Salesforce's answer did not carry a valid signature; nothing was kept. Start again.",
            provider=PROVIDER,
            code="bad_signature",
        )
    return answer


def signature_valid(answer: TokenAnswer, *, client_secret: str) -> bool:
    """Whether the answer's `signature` is base64(HMAC-SHA256(client secret, id + issued_at)), Salesforce's proof
    that the identity URL was issued with our client. An answer without one is accepted (it is optional)."""
    if not answer.signature:
        return True
    expected = hmac.new(
        client_secret.encode(), f"{answer.identity_url}{answer.issued_at}".encode(), hashlib.sha256
    ).digest()
    try:
        given = base64.b64decode(answer.signature, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def userinfo_read(*, http: requests.Session, host: str, access_token: str) -> dict[str, Any]:
    """The OpenID userinfo of an access token, asked at a host already checked. {} when Salesforce answered no."""
    response = http.get(
        f"{host}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.status_code != 200:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}


def organization_read(*, http: requests.Session, instance: str, access_token: str, org_id: str) -> dict[str, Any]:
    """The org's Name and IsSandbox (the Organization record), asked at its instance; {} when that cannot be read
    (a user without the permission, an emulator without the object): the connection works without them."""
    path = f"/services/data/v{salesforce_settings.API_VERSION}/sobjects/Organization/{org_id}"
    try:
        response = http.get(
            f"{instance}{path}",
            params={"fields": "Name,IsSandbox"},
            headers={
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json",
                "Sforce-Call-Options": f"client={salesforce_settings.CLIENT_NAME}",
            },
        )
        body = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError, outbound.OutboundRefused):
        logger.info("salesforce.oauth.organization_unread", sf_org_id=org_id)
        return {}
    return body if isinstance(body, dict) else {}


def identity_from(userinfo: Mapping[str, Any], *, identity_url: str = "") -> Identity:
    """The Identity of a userinfo answer; the org and user ids fall back to the identity URL's."""
    org_from_url, user_from_url = ids_from_identity_url(identity_url or str(userinfo.get("sub") or ""))
    return Identity(
        org_id=id18(str(userinfo.get("organization_id") or "")) or org_from_url,
        org_name=str(userinfo.get("organization_name") or ""),
        user_id=id18(str(userinfo.get("user_id") or "")) or user_from_url,
        user_email=str(userinfo.get("email") or ""),
        user_name=str(userinfo.get("name") or userinfo.get("preferred_username") or ""),
        user_active=userinfo.get("active") is not False,
    )


def token_revoke(*, http: requests.Session, login: str, token: str, **log: Any) -> bool:
    """Revoke a token we will not keep (a refresh token's revocation ends its access tokens too); best effort."""
    try:
        response = http.post(f"{login}/services/oauth2/revoke", data={"token": token})
    except (requests.RequestException, outbound.OutboundRefused):
        # The token is stored nowhere; an unrevoked one shows in the user's Salesforce "Connected Apps OAuth Usage".
        logger.exception("salesforce.oauth.revoke_failed", **log)
        return False
    return response.status_code < 400


# --- start --------------------------------------------------------------------------------------------------------
def login_for(account: ProviderAccount, choice: str) -> str:
    """The login host a connect starts at: the account's own, or Salesforce's production or sandbox host."""
    if choice == "production":
        return PRODUCTION_LOGIN
    if choice == "sandbox":
        return SANDBOX_LOGIN
    if choice not in ("", "account"):
        raise CrmRejected(f"Unknown login host choice {choice!r}.", provider=PROVIDER, code="bad_request")
    wanted = account.accounts_url or PRODUCTION_LOGIN
    login = login_host_trusted(account, wanted)
    if not login:
        raise CrmRejected(
            f"{wanted} is not a Salesforce login host (login.salesforce.com, test.salesforce.com or "
            "<domain>.my.salesforce.com); choose one, or ask an operator.",
            provider=PROVIDER,
            code="bad_login_host",
        )
    return login


def authorize_url(account: ProviderAccount, *, session: Any, options: Mapping[str, str] | None = None) -> str:
    """The Salesforce consent URL for an account; remembers a nonce in the person's session. `options`: `login`
    ("account", "production" or "sandbox")."""
    if account.kind != ProviderKind.SALESFORCE:
        raise CrmRejected("Only Salesforce accounts connect to Salesforce.", provider=PROVIDER, code="bad_request")
    if not account.client_id or not account.client_secret:
        raise CrmRejected(
            "Enter the account's consumer key and secret (the app's client id and secret in Salesforce) first.",
            provider=PROVIDER,
            code="not_configured",
        )
    login = login_for(account, (options or {}).get("login", "account"))
    state = state_issue(
        session=session, kind=PROVIDER, flow=Flow.CONNECT, finish=CONNECT_FINISH, account=account.pk, login=login
    )
    return authorize_url_for(
        login=login, client_id=account.client_id, redirect_to=redirect_uri(), scopes=SCOPES, state=state
    )


def state_account_id(*, state: str, session: Any) -> tuple[int, str]:
    """(account id, login host) a connect's `state` was issued for, if it is genuine, fresh and from this session
    (single use). CrmAuthError "bad_state" otherwise."""
    issued = state_claim(state=state, session=session)
    if issued.kind != PROVIDER or issued.flow != Flow.CONNECT or "account" not in issued.data:
        raise CrmAuthError("This Salesforce sign-in link is not a connection's; start again.", code="bad_state")
    return int(issued.data["account"]), str(issued.data.get("login") or "")


# --- finish -------------------------------------------------------------------------------------------------------
def connect_finish(
    account: ProviderAccount, *, params: Mapping[str, str], session: Any, connected_by: str = ""
) -> Identity:
    """Salesforce's callback for `account`: the state must be one this session started for it; then the code is
    exchanged at the login host the state names (if we still trust it), the refresh token stored and the org and
    user recorded on the connection."""
    state = str(params.get("state") or "")
    account_id, login = state_account_id(state=state, session=session)
    if account_id != account.pk:
        raise CrmAuthError("This Salesforce sign-in was started for another account.", code="bad_state")
    if params.get("error"):
        message = f"Salesforce sign-in did not complete: {params['error']}"
        if params.get("error_description"):
            message += f" ({params['error_description']})"
        connection_error_record(account=account, message=message)
        raise CrmAuthError(message, provider=PROVIDER, code="denied")
    if not login_host_trusted(account, login):
        raise _failed(account, CrmRejected(f"{login} is not a Salesforce login host; the connection was not made."))
    secret = _reveal(account.client_secret)
    http = http_session()
    try:
        answer = code_exchange(
            http=http,
            login=login,
            client_id=account.client_id,
            client_secret=secret,
            redirect_to=redirect_uri(),
            code=str(params.get("code") or ""),
            state=state,
        )
    except CrmError as exc:
        raise _failed(account, exc) from exc
    if not answer.refresh_token:
        _revoke(http, login, answer.access_token, account)
        raise _failed(
            account,
            CrmAuthError(
                "Salesforce sent no refresh token: give the app the scope 'Perform requests at any time "
                "(refresh_token, offline_access)' and start again.",
                code="no_refresh_token",
            ),
        )
    try:
        instance = instance_url_check(account=account, login=login, instance_url=answer.instance_url)
    except CrmAuthError as exc:
        _revoke(http, login, answer.refresh_token, account)
        logger.warning("salesforce.oauth.instance_refused", account_id=account.pk, instance_url=answer.instance_url)
        raise _failed(account, exc) from exc
    identity = _identity(http, login, answer, account)
    if not identity.org_id:
        _revoke(http, login, answer.refresh_token, account)
        raise _failed(account, CrmAuthError("Salesforce did not say which org this is; start again."))
    org = organization_read(http=http, instance=instance, access_token=answer.access_token, org_id=identity.org_id)
    if org.get("Name"):
        identity = replace(identity, org_name=str(org["Name"]))
    if _org_claimed_elsewhere(account=account, org_id=identity.org_id):
        raise _claim_refused(http, login, answer, account, identity, connected_by)
    previous = _previous_org(account)
    if previous and previous != identity.org_id:
        # The account's mirror, members' user ids and lead automation belong to the org it was connected to;
        # reading another org through it would mix the two. A new org is a new account.
        _revoke(http, login, answer.refresh_token, account)
        logger.warning(
            "salesforce.connection.other_org_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            previous_sf_org_id=previous,
            sf_org_id=identity.org_id,
        )
        raise _failed(account, CrmAuthError(OTHER_ORG.format(previous=previous, new=identity.org_id), code="other_org"))
    try:
        _connected(
            account=account,
            answer=answer,
            login=login,
            instance=instance,
            identity=identity,
            org=org,
            connected_by=connected_by,
        )
    except IntegrityError as exc:  # two connects of one org at once: the constraint lets the first one win
        if not _org_claimed_elsewhere(account=account, org_id=identity.org_id):
            raise
        raise _claim_refused(http, login, answer, account, identity, connected_by) from exc
    logger.info(
        "salesforce.connection.connected",
        account_id=account.pk,
        organization_id=account.organization_id,
        sf_org_id=identity.org_id,
    )
    return identity


def _identity(http: requests.Session, login: str, answer: TokenAnswer, account: ProviderAccount) -> Identity:
    """Who connected: the ids of the identity URL (signed with the answer), the name and e-mail from userinfo."""
    try:
        userinfo = userinfo_read(http=http, host=login, access_token=answer.access_token)
    except (requests.RequestException, ValueError, outbound.OutboundRefused):
        # The connection itself worked; the name and e-mail are shown once identity_fetch is asked again.
        logger.exception("salesforce.oauth.userinfo_failed", account_id=account.pk)
        userinfo = {}
    from_url = ids_from_identity_url(answer.identity_url)
    identity = identity_from(userinfo, identity_url=answer.identity_url)
    if from_url[0] and identity.org_id != from_url[0]:
        # userinfo must describe the token's own org; a mismatch is a broken or forged answer: trust the signed id.
        logger.warning("salesforce.oauth.userinfo_mismatch", account_id=account.pk)
        return Identity(org_id=from_url[0], user_id=from_url[1])
    return identity


def _claim_refused(
    http: requests.Session,
    login: str,
    answer: TokenAnswer,
    account: ProviderAccount,
    identity: Identity,
    connected_by: str,
) -> CrmError:
    """Another tenant holds this Salesforce org: keep nothing (revoke the new token), tell the manager, warn
    operators."""
    _revoke(http, login, answer.refresh_token, account)
    logger.warning(
        "salesforce.connection.org_claim_refused",
        account_id=account.pk,
        organization_id=account.organization_id,
        sf_org_id=identity.org_id,
        connected_by=connected_by,
    )
    name = f"{identity.org_name} ({identity.org_id})" if identity.org_name else identity.org_id
    return _failed(account, CrmAuthError(ORG_CLAIMED.format(name=name), code="org_claimed"))


def sandbox_login(login: str) -> bool:
    """Whether a login host is a sandbox org's: test.salesforce.com, or a sandbox's My Domain
    (<domain>--<sandbox>.sandbox.my.salesforce.com)."""
    host = urlsplit(login).hostname or ""
    return host == urlsplit(SANDBOX_LOGIN).hostname or host.endswith(".sandbox.my.salesforce.com")


def _previous_org(account: ProviderAccount) -> str:
    """The org this account was connected to (kept after a disconnect), "" if none yet."""
    return (
        SalesforceConnection.unscoped_objects.filter(account=account).values_list("sf_org_id", flat=True).first() or ""
    )


def _org_claimed_elsewhere(*, account: ProviderAccount, org_id: str) -> bool:
    """Whether another connection holds this Salesforce org (connected, or waiting to be reconnected)."""
    return (
        SalesforceConnection.objects.unscoped()  # a claim is checked across every tenant, and only answered yes/no
        .filter(sf_org_id=org_id)
        .exclude(state=SalesforceConnection.State.NOT_CONNECTED)
        .exclude(account=account)
        .exists()
    )


def _revoke(http: requests.Session, login: str, token: str, account: ProviderAccount) -> None:
    if token:
        token_revoke(http=http, login=login, token=token, account_id=account.pk)


@transaction.atomic
def _connected(
    *,
    account: ProviderAccount,
    answer: TokenAnswer,
    login: str,
    instance: str,
    identity: Identity,
    org: Mapping[str, Any],
    connected_by: str,
) -> SalesforceConnection:
    _token_cache_clear(account)  # the old refresh token's cached access token
    account.refresh_token = answer.refresh_token
    account.accounts_url = login
    account.api_domain = instance
    account.save(update_fields=["refresh_token", "accounts_url", "api_domain", "updated_at"])
    connection = connection_for_account(account=account)
    now = timezone.now()
    connection.state = SalesforceConnection.State.CONNECTED
    if identity.org_name or connection.sf_org_id != identity.org_id:  # a reconnect keeps a name it was not told
        connection.org_name = identity.org_name[:200]
    connection.sf_org_id = identity.org_id
    connection.user_id = identity.user_id
    connection.user_email = identity.user_email[:254]
    connection.user_name = identity.user_name[:200]
    connection.identity_url = answer.identity_url[:500]
    connection.scopes = answer.scope
    connection.is_sandbox = bool(org["IsSandbox"]) if isinstance(org.get("IsSandbox"), bool) else sandbox_login(login)
    connection.connected_at = now
    connection.connected_by = connected_by
    connection.last_refreshed_at = now
    connection.last_error = ""
    connection.last_error_at = None
    connection.limit_blocked_until = None
    connection.save()
    return connection


def _failed(account: ProviderAccount, exc: CrmError) -> CrmError:
    """Show the failure on the connection and give it back to raise, named as Salesforce's."""
    connection_error_record(account=account, message=exc.message)
    exc.provider = exc.provider or PROVIDER
    return exc


def _reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


def _token_cache_clear(account: ProviderAccount) -> None:
    from crm.providers.salesforce import tokens

    tokens.token_cache_clear(account=account)


# --- disconnect ---------------------------------------------------------------------------------------------------
def disconnect(account: ProviderAccount) -> SalesforceConnection:
    """Revoke the refresh token at Salesforce, then forget it. If Salesforce cannot be reached the token is still
    dropped here (we stop using it at once), and the connection says so, so it can be revoked in Salesforce."""
    refresh_token = _reveal(account.refresh_token)
    problem = ""
    if refresh_token:
        login = login_host_trusted(account, account.accounts_url or PRODUCTION_LOGIN)
        if not login:
            problem = f"{account.accounts_url} is not a Salesforce login host, so the token was not sent there"
        else:
            try:
                response = http_session().post(f"{login}/services/oauth2/revoke", data={"token": refresh_token})
                if response.status_code >= 400:
                    problem = f"Salesforce answered HTTP {response.status_code} to the revocation"
            except (requests.RequestException, outbound.OutboundRefused) as exc:
                problem = f"Salesforce could not be reached to revoke the token ({type(exc).__name__})"
    _token_cache_clear(account)
    with transaction.atomic():
        account.refresh_token = ""
        account.save(update_fields=["refresh_token", "updated_at"])
        connection = connection_for_account(account=account)
        connection.state = SalesforceConnection.State.NOT_CONNECTED
        connection.limit_blocked_until = None
        connection.last_error = (
            f"{problem}; revoke it in Salesforce (Setup > Connected Apps OAuth Usage)." if problem else ""
        )
        connection.last_error_at = timezone.now() if problem else None
        connection.save()
    logger.info("salesforce.connection.disconnected", account_id=account.pk, revoked=not problem)
    return connection


# --- identity -----------------------------------------------------------------------------------------------------
def identity_fetch(account: ProviderAccount) -> Identity:
    """The org and user behind the connection, asked of Salesforce now (userinfo on the org's instance, with the
    token broker's access token and the client's one refresh on a dead session): proves the credentials work."""
    from crm.providers.salesforce.client import SalesforceClient
    from crm.providers.salesforce.errors import SalesforceError, to_crm_error

    try:
        # A person is waiting (the admin, a provider check): the interactive share of the allocation.
        body = SalesforceClient(account, priority=Priority.INTERACTIVE).get("/services/oauth2/userinfo").json()
    except SalesforceError as exc:
        raise to_crm_error(exc) from exc
    connection = connection_for_account(account=account)
    identity = identity_from(body if isinstance(body, dict) else {}, identity_url=connection.identity_url)
    return Identity(
        org_id=identity.org_id,
        org_name=identity.org_name or connection.org_name,
        user_id=identity.user_id,
        user_email=identity.user_email,
        user_name=identity.user_name,
        user_active=identity.user_active,
    )
