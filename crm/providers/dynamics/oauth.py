"""Connect Dynamics 365: an administrator of the customer's Microsoft Entra tenant grants Leadline's multi-tenant app
admin consent, and the manager names the Dataverse environment (docs/crm/dynamics.md, Connect). Sign-in
(sign_in.py) uses the same app and login host.

1. `authorize_url` checks the environment URL the manager typed (Dynamics' own hosts; only an operator's account may
   name an emulator) and sends them to Entra's admin consent page (`{login}/organizations/v2.0/adminconsent`) with
   the app's client id, the scope `<environment>/.default`, the one callback of every CRM flow
   (/crm/oauth/callback) and the signed state of every CRM flow (crm/oauth_state.py: single use, bound to this
   browser, naming the account and the environment).
2. Entra sends them back with `admin_consent=True&tenant=<tenant id>` (or `error=access_denied`); `connect_finish`
   claims the state, asks msal for a client-credentials token of that tenant for the environment, and calls
   `WhoAmI`: the environment's organization id and our application user's id (whose writes are our own echo).
   A 401/403 there means the customer has not created the application user yet: the error names that step.
3. Nothing secret is stored by connecting: tokens come from the app's credentials per tenant (tokens.py). The
   connection keeps the tenant, the environment, its organization id and name, the application user and a fresh
   webhook secret (the header the customer's webhook registration carries).

Entra's redirect after consent is not signed (its `tenant` is the browser's word): with `confirm_tenant` in the
options (the admin's Connect page) the person then signs in with Microsoft in that tenant before anything is asked
of it (confirm.py), so the tenant stored is the one an ID token names.

An environment is held by one connection (a database constraint): a second organization's claim is refused with a
message, storing nothing; so is connecting an account to an environment other than the one it was connected to.
No vendor call happens inside a database transaction: the callback view is non-atomic and writes afterwards.
Errors are crm.errors types: CrmAuthError (refused; a person starts again), CrmUnavailable (Microsoft did not
answer), CrmRejected (a setup problem: no app credentials, an environment host we will not call).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

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
from crm.providers.dynamics.models import DynamicsConnection, environment_url_normalise, webhook_secret_new
from crm.providers.dynamics.services import connection_for_account
from crm.records import Identity
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

PROVIDER = "dynamics"
CRM_NAME = "Microsoft Dynamics 365"
CONNECT_FINISH = "dynamics:oauth-callback"  # the view that completes a connect (views.py)
GUID_LENGTH = 36
APPLICATION_USER_STEP = (
    "Leadline's app has no application user in this environment yet: an administrator adds it (Power Platform "
    "admin center > the environment > Settings > Users + permissions > Application users > New app user, with "
    "Leadline's app and a security role; docs/crm/dynamics.md, 'Application user and security role'), then "
    "connects again."
)
ENVIRONMENT_CLAIMED = (
    "The Dynamics 365 environment {name} is already connected to another Leadline organization, so it was not "
    "connected here. If this environment is yours, contact Leadline support."
)
OTHER_ENVIRONMENT = (
    "This account was connected to the Dynamics 365 environment {previous}; the consent named the environment "
    "{new}, so nothing was changed (the account's mirrored records and members' system users belong to "
    "{previous}). To use {new}, add another Dynamics 365 account and connect that one."
)
FLOW = ConnectFlow(
    kind=PROVIDER,
    model=DynamicsConnection,
    claimed_message=ENVIRONMENT_CLAIMED,
    other_org_message=OTHER_ENVIRONMENT,
    org_word="environment",
    logger=logger,
)


def _settings() -> Any:
    from crm.providers.dynamics.conf import dynamics_settings

    return dynamics_settings


def _account(provider_or_account: Any) -> ProviderAccount:
    """The account of a provider (the CrmProvider passes itself) or the account itself (the admin's pages)."""
    return provider_or_account if isinstance(provider_or_account, ProviderAccount) else provider_or_account.account


# --- where Entra and the environment are, and as which app ---------------------------------------------------------
def app_credentials(account: ProviderAccount | None = None) -> tuple[str, str]:
    """(client id, client secret): the account's own Entra app when it names one, else Leadline's."""
    if account is not None and account.client_id:
        secret = account.client_secret
        return account.client_id, secret.reveal() if hasattr(secret, "reveal") else str(secret or "")
    return str(_settings().CLIENT_ID), str(_settings().CLIENT_SECRET)


def login_base(account: ProviderAccount | None = None) -> str:
    """msal's authority host (tokens): the account's Entra login host, or the configured one."""
    return ((account.accounts_url if account is not None else "") or str(_settings().LOGIN_URL)).rstrip("/")


def consent_base(account: ProviderAccount | None = None) -> str:
    """Where a person's browser goes (admin consent, sign-in): Entra's own login host as the account names it; for
    an emulator an operator set, the configured consent URL (a browser trusts the plain sandbox address)."""
    base = login_base(account)
    if outbound.vendor_url_allowed(kind=PROVIDER, field="accounts_url", url=base):
        return base
    return (str(_settings().CONSENT_URL) or base).rstrip("/")


def redirect_uri() -> str:
    """Where Entra sends people back (the app's redirect URI): the one callback of every CRM flow."""
    return _settings().OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def http_session(role: str = "dynamics-connect") -> requests.Session:
    """The HTTP session of the connect and sign-in exchanges: the client's timeouts, no retries, the CA bundle."""
    session = make_session(role, timeout=tuple(_settings().TIMEOUT), retries=0)
    if _settings().CA_BUNDLE:
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's own `verify`.
        session.request = functools.partial(session.request, verify=str(_settings().CA_BUNDLE))  # type: ignore[method-assign]
    return session


def environment_url_clean(url: str, *, account: ProviderAccount) -> str:
    """The environment URL to connect, normalised, or CrmRejected saying why not: https on Dynamics' own hosts
    (https://<org>.crm.dynamics.com, no path); an operator-set account may name an emulator's (with its path)."""
    from crm.providers.dynamics.hosts import environment_url_clean as clean

    if not (url or "").strip():
        raise CrmRejected(
            "Name the environment to connect (https://<org>.crm.dynamics.com).",
            provider=PROVIDER,
            code="bad_environment",
        )
    try:
        return environment_url_normalise(clean(url, operator=account.custom_endpoints))
    except outbound.OutboundRefused as exc:
        raise CrmRejected(exc.message, provider=PROVIDER, code="host_refused") from exc


def msal_app(account: ProviderAccount | None, *, tenant: str, http: requests.Session) -> Any:
    """A confidential client of the app for one tenant's authority (no instance discovery: the authority is the
    account's own login host, which may be an emulator's)."""
    import msal

    client_id, client_secret = app_credentials(account)
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=f"{login_base(account)}/{tenant}",
        instance_discovery=False,
        http_client=http,
        timeout=tuple(_settings().TIMEOUT),
    )


def _unavailable(what: str, exc: Exception | None = None, status: int | None = None) -> CrmUnavailable:
    reason = f"HTTP {status}" if status else type(exc).__name__ if exc else "no answer"
    return CrmUnavailable(f"Microsoft did not answer {what} ({reason}); try again in a minute.", provider=PROVIDER)


def msal_refusal(result: Mapping[str, Any], *, what: str) -> CrmError:
    """The typed error for an msal answer with an `error` (Entra's AADSTS codes say which)."""
    error = str(result.get("error") or "token_refused")
    detail = str(result.get("error_description") or "").splitlines()[0:1]
    codes = {int(code) for code in result.get("error_codes") or [] if str(code).isdigit()}
    text = detail[0] if detail else error
    if codes & {7000215, 7000222, 700027} or (error == "invalid_client" and "secret" in text.lower()):
        return CrmRejected(
            f"Entra refused Leadline's app credentials ({text}); an operator must set the app's client secret.",
            provider=PROVIDER,
            code="bad_client_secret",
        )
    if codes & {7000229, 700016, 65001, 500011, 90002, 90072} or error in ("unauthorized_client", "invalid_resource"):
        return CrmAuthError(
            f"The tenant has not granted Leadline's app consent for {what} ({text}); an administrator of the tenant "
            "must connect (grant consent) again.",
            provider=PROVIDER,
            code="consent_required",
        )
    return CrmAuthError(f"Entra refused {what} ({text}).", provider=PROVIDER, code=error)


def app_token(account: ProviderAccount, *, tenant: str, environment: str) -> str:
    """A client-credentials access token of the tenant for the environment (scope `<environment>/.default`), from
    the token source every call uses (tokens.py: msal, per tenant)."""
    from crm.providers.dynamics import tokens
    from crm.providers.dynamics.errors import DataverseError, translate

    try:
        return tokens.token_for(account, tenant_id=tenant, environment=environment)
    except DataverseError as exc:
        raise translate(exc) from exc


@dataclass(frozen=True)
class WhoAmI:
    """WhoAmI's answer: the environment's organization, the caller's system user and business unit."""

    organization_id: str
    user_id: str
    business_unit_id: str


def api_url(environment: str, path: str) -> str:
    return f"{environment}/api/data/{_settings().API_VERSION}/{path.lstrip('/')}"


def api_get(
    http: requests.Session, *, environment: str, token: str, path: str, params: Mapping[str, str] | None = None
) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
    }
    return http.get(api_url(environment, path), params=dict(params or {}), headers=headers)


def whoami(http: requests.Session, *, environment: str, token: str) -> WhoAmI:
    """GET /WhoAmI as the app: proves the token reaches the environment and names our application user."""
    try:
        response = api_get(http, environment=environment, token=token, path="WhoAmI")
    except outbound.OutboundRefused as exc:
        raise CrmRejected(exc.message, provider=PROVIDER, code="host_refused") from exc
    except requests.RequestException as exc:
        raise _unavailable("WhoAmI", exc) from exc
    if response.status_code in (401, 403):
        raise CrmAuthError(APPLICATION_USER_STEP, provider=PROVIDER, code="no_application_user", status=403)
    if response.status_code >= 500 or response.status_code == 429:
        raise _unavailable("WhoAmI", status=response.status_code)
    body = json_object(response)
    answer = WhoAmI(
        organization_id=str(body.get("OrganizationId") or "").lower(),
        user_id=str(body.get("UserId") or "").lower(),
        business_unit_id=str(body.get("BusinessUnitId") or "").lower(),
    )
    if response.status_code != 200 or len(answer.organization_id) != GUID_LENGTH:
        message = _error_message(body) or f"HTTP {response.status_code}"
        raise CrmAuthError(f"The environment did not say who we are ({message}).", provider=PROVIDER, code="whoami")
    return answer


def organization_name(http: requests.Session, *, environment: str, token: str, organization_id: str) -> str:
    """The environment's organization name ("" when it cannot be read: the connection works without it)."""
    try:
        response = api_get(
            http,
            environment=environment,
            token=token,
            path=f"organizations({organization_id})",
            params={"$select": "name"},
        )
        name = str(json_object(response).get("name") or "") if response.status_code == 200 else ""
    except (requests.RequestException, outbound.OutboundRefused):
        name = ""
    return name[:200]


def _error_message(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    return str(error.get("message") or error.get("code") or "") if isinstance(error, dict) else ""


# --- start ----------------------------------------------------------------------------------------------------------
def consent_url(*, base: str, client_id: str, environment: str, redirect_to: str, state: str) -> str:
    params = {
        "client_id": client_id,
        "scope": f"{environment}/.default",
        "redirect_uri": redirect_to,
        "state": state,
    }
    return f"{base}/organizations/v2.0/adminconsent?{urlencode(params, quote_via=quote)}"


def authorize_url(provider: Any, *, session: Any, options: Mapping[str, str] | None = None) -> str:
    """Entra's admin consent URL for the account; remembers a nonce in the person's session. `options`:
    `environment_url`, the environment to connect (else the one the account or its connection names);
    `confirm_tenant`, a sign-in in the consenting tenant before it is used (confirm.py)."""
    account = _account(provider)
    if account.kind != ProviderKind.DYNAMICS:
        raise CrmRejected("Only Dynamics 365 accounts connect to Dynamics 365.", provider=PROVIDER, code="bad_request")
    client_id, client_secret = app_credentials(account)
    if not client_id or not client_secret:
        raise CrmRejected(
            "Dynamics 365 is not configured on this server (DYNAMICS_CLIENT_ID and DYNAMICS_CLIENT_SECRET), and the "
            "account has no Entra app of its own.",
            provider=PROVIDER,
            code="not_configured",
        )
    from crm.providers.dynamics.services import environment_url

    environment = environment_url_clean(
        str((options or {}).get("environment_url") or environment_url(account)), account=account
    )
    confirm = {"confirm_tenant": True} if (options or {}).get("confirm_tenant") else {}
    state = state_issue(
        session=session,
        kind=PROVIDER,
        flow=Flow.CONNECT,
        finish=CONNECT_FINISH,
        account=account.pk,
        environment=environment,
        **confirm,
    )
    return consent_url(
        base=consent_base(account),
        client_id=client_id,
        environment=environment,
        redirect_to=redirect_uri(),
        state=state,
    )


# --- finish ---------------------------------------------------------------------------------------------------------
def connect_finish(provider: Any, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
    """Entra's callback for the account: the state must be one this session started for it; then a token of the
    consenting tenant for the environment, WhoAmI, and the connection stored."""
    account = _account(provider)
    issued = FLOW.state_claim(state=str(params.get("state") or ""), session=session, account=account)
    if issued.get("step") == "confirm":  # the sign-in that confirms the consenting tenant (confirm.py)
        from crm.providers.dynamics.confirm import confirmed_tenant

        try:
            tenant = confirmed_tenant(account, issued=issued, params=params)
        except CrmError as exc:
            raise _failed(account, exc) from exc
    elif issued.get("confirm_tenant"):  # a consent that had to be confirmed first (confirm.consent_continue)
        raise _failed(
            account, CrmAuthError("The tenant was not confirmed by a sign-in; connect again.", code="bad_state")
        )
    else:
        tenant = consented_tenant(account, params)
    environment = environment_url_clean(str(issued.get("environment") or ""), account=account)
    http = http_session()
    try:
        token = app_token(account, tenant=tenant, environment=environment)
        answer = whoami(http, environment=environment, token=token)
    except CrmError as exc:
        raise _failed(account, exc) from exc
    name = organization_name(http, environment=environment, token=token, organization_id=answer.organization_id)
    identity = Identity(
        org_id=answer.organization_id,
        org_name=name or urlsplit(environment).netloc,
        user_id=answer.user_id,
        user_name="Leadline (application user)",
    )
    claim = {"account": account, "identity": identity, "connected_by": connected_by, "revoke": lambda: None}
    refused = FLOW.claim_refusal(**claim)  # another tenant's environment, or not the one this account had
    if refused:
        raise refused
    try:
        _connected(
            account=account,
            tenant=tenant,
            environment=environment,
            answer=answer,
            name=name,
            connected_by=connected_by,
        )
    except IntegrityError as exc:  # two connects of one environment at once: the constraint lets the first win
        refused = FLOW.claim_lost(**claim)
        if not refused:
            raise
        raise refused from exc
    _token_cache_clear(account)
    logger.info(
        "dynamics.connection.connected",
        account_id=account.pk,
        organization_id=account.organization_id,
        org_id=answer.organization_id,
        tenant_id=tenant,
    )
    return identity


def consented_tenant(account: ProviderAccount, params: Mapping[str, str]) -> str:
    """The tenant Entra's consent redirect names (a GUID, consent granted); the refusal shown on the connection
    otherwise."""
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise _failed(account, CrmAuthError(f"Consent was not granted: {detail}", code="denied"))
    tenant = str(params.get("tenant") or "").strip().lower()
    if len(tenant) != GUID_LENGTH or str(params.get("admin_consent") or "").lower() != "true":
        raise _failed(account, CrmAuthError("Entra did not confirm the tenant's consent; start again.", code="denied"))
    return tenant


finish_connect = connect_finish  # the name the other CRM packages' oauth.py use


@transaction.atomic
def _connected(
    *, account: ProviderAccount, tenant: str, environment: str, answer: WhoAmI, name: str, connected_by: str
) -> DynamicsConnection:
    parts = urlsplit(environment)
    origin = f"{parts.scheme}://{parts.netloc}"
    if account.api_domain != origin:
        account.api_domain = origin
        account.save(update_fields=["api_domain", "updated_at"])
    connection = connection_for_account(account=account)
    connection_state.connection_connected(connection, connected_by=connected_by)
    connection.tenant_id = tenant
    connection.environment_url = environment
    connection.org_id = answer.organization_id
    connection.organization_name = name
    connection.application_user_id = answer.user_id
    if not connection.webhook_secret:
        connection.webhook_secret = webhook_secret_new()
    connection.save()
    return connection


def _token_cache_clear(account: ProviderAccount) -> None:
    """Tokens cached for the account's previous tenant or environment are not used again."""
    try:
        from crm.providers.dynamics import tokens
    except ImportError:
        return
    clear = getattr(tokens, "token_cache_clear", None)
    if clear is not None:
        clear()  # every tenant's cached apps: a connect or disconnect is rare


_failed = FLOW.failed  # the error to raise, named as Dynamics 365's, once the connection shows it


# --- disconnect -----------------------------------------------------------------------------------------------------
def disconnect(provider: Any) -> DynamicsConnection:
    """Stop using the environment here at once. Nothing is revoked at Microsoft by this (client credentials leave
    no grant of ours to revoke): the connection says how the customer ends Leadline's access there."""
    account = _account(provider)
    _token_cache_clear(account)
    connection = connection_state.connection_disconnected(
        DynamicsConnection,
        account=account,
        problem="Leadline's access to the environment stays granted in Microsoft Entra and Dataverse",
        advice="to end it, remove Leadline's application user from the environment (Power Platform admin center) "
        "and Leadline's enterprise application from the tenant (Microsoft Entra admin center).",
    )
    logger.info("dynamics.connection.disconnected", account_id=account.pk)
    return connection
