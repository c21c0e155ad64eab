"""Where a Dynamics account's calls go: the environment's Web API, Entra ID's login host (msal's authority), the
host a person's browser consents on, the customer's tenant and the app credentials an account uses.

A manager types the environment URL: it must be https on one of Dynamics' own hosts (`environment_url_clean`:
https://<org>.crm[N].dynamics.com, and the sovereign clouds' hosts). Only an operator (`custom_endpoints`) may point
an account elsewhere: an emulator serves each environment under a path of its host (the sandbox's
`/dynamics/<name>`), so an operator-set environment URL may carry a path, which a stored account URL (an origin,
core.outbound) cannot: the connection row's `environment_url` holds it then. `hosts_register` declares the hosts to
core.outbound (the app's ready()).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from core import outbound
from crm.providers.dynamics.conf import dynamics_settings
from crm.providers.dynamics.errors import DataverseAuthError
from studios.models import ProviderAccount

KIND = "dynamics"
# Each region's environments live under crm.dynamics.com (North America) or crmN.dynamics.com (crm2 South America,
# crm3 Canada, crm4 EMEA, crm5 Asia Pacific, crm6 Oceania, crm7 Japan, crm8 India, crm9 US government, crm11 UK,
# crm12 France ...); the sovereign clouds have their own domains.
ENVIRONMENT_HOSTS: tuple[str, ...] = (
    "*.crm.dynamics.com",
    *(f"*.crm{number}.dynamics.com" for number in range(2, 31)),
    "*.crm.microsoftdynamics.us",
    "*.crm.appsplatform.us",
    "*.crm.dynamics.cn",
)
# Entra ID's login hosts: the global cloud, US government, China (21Vianet, old and new names).
LOGIN_HOSTS: tuple[str, ...] = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
)


def hosts_register() -> None:
    """Declare Dynamics' own hosts to core.outbound (called from the app's ready()): `accounts_url` is the login
    host, `api_domain` the environment."""
    outbound.vendor_hosts_register(
        kind=KIND,
        vendor="Microsoft Dynamics 365",
        fields={"accounts_url": LOGIN_HOSTS, "api_domain": ENVIRONMENT_HOSTS},
    )


def _ensure_registered() -> None:
    if (KIND, "api_domain") not in outbound.VENDOR_HOSTS:
        hosts_register()


# --- the environment --------------------------------------------------------------------------------------------
def environment_url_clean(url: str, *, operator: bool = False) -> str:
    """The environment URL to store, normalised (`https://org.crm.dynamics.com`, no trailing slash), or
    OutboundRefused saying why not. A manager may name only Dynamics' own hosts, as an origin (a trailing slash and
    the `/main.aspx` people copy from their browser are dropped); an operator may name another host and a path
    (an emulator's `/dynamics/<name>`)."""
    _ensure_registered()
    text = (url or "").strip()
    parts = urlsplit(text)
    path = parts.path.rstrip("/")
    if path.lower().endswith("/main.aspx") or path.lower() == "/main.aspx":
        path = path[: -len("/main.aspx")]
    origin_text = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else text
    if parts.query or parts.fragment:
        if not parts.path.lower().endswith("main.aspx"):
            raise outbound.OutboundRefused(f"{text!r}: a query string is not allowed; enter the address only.")
    if path and not operator:
        raise outbound.OutboundRefused(
            f"{text!r}: enter the environment's address only, like https://yourorg.crm.dynamics.com."
        )
    origin = outbound.endpoint_clean(origin_text, kind=KIND, field="api_domain", operator=operator)
    return f"{origin}{path}"


def environment_url(account: ProviderAccount | None, *, explicit: str = "", connection: Any = None) -> str:
    """The environment's URL for an account (its Web API is `{url}/api/data/v9.2`, its token scope
    `{url}/.default`): `explicit` (the connect flow, before a connection row exists), else the connection row's
    `environment_url`, else the account's `api_domain`. A URL on neither Dynamics' hosts nor an operator-set
    account's host is refused."""
    candidates = [explicit]
    if not explicit and account is not None:
        row = connection if connection is not None else _connection_of(account)
        candidates.append(str(getattr(row, "environment_url", "") or ""))
    for candidate in candidates:
        if candidate:
            return _checked_environment(account, candidate.rstrip("/"))
    stored = (getattr(account, "api_domain", "") or "").rstrip("/") if account is not None else ""
    if not stored:
        raise DataverseAuthError(
            f"{account.name if account else 'The account'} names no Dynamics environment URL", code="NO_ENVIRONMENT"
        )
    return _checked_environment(account, stored)


def _checked_environment(account: ProviderAccount | None, url: str) -> str:
    _ensure_registered()
    origin = _origin(url)
    path = urlsplit(url).path.rstrip("/")
    if origin and not path and outbound.vendor_url_allowed(kind=KIND, field="api_domain", url=origin):
        return origin
    operator_set = account is not None and account.custom_endpoints
    stored = outbound.origin_of(getattr(account, "api_domain", "") or "") if account is not None else ""
    if origin and operator_set and (not stored or origin == stored):
        return f"{origin}{path}"
    raise DataverseAuthError(
        f"{account.name if account else 'The account'} names {url} as its Dynamics environment, which is not one of "
        "Dynamics' own hosts; only an operator may point an account elsewhere.",
        code="ENDPOINT_REFUSED",
    )


def api_base(account: ProviderAccount | None, *, explicit: str = "", connection: Any = None) -> str:
    """The Web API's service root, e.g. https://org.crm.dynamics.com/api/data/v9.2."""
    base = environment_url(account, explicit=explicit, connection=connection)
    return f"{base}/api/data/{dynamics_settings.API_VERSION}"


def token_scope(environment: str) -> str:
    """The client-credentials scope of an environment: its URL + /.default."""
    return f"{environment.rstrip('/')}/.default"


# --- Entra ID ---------------------------------------------------------------------------------------------------
def login_base(account: ProviderAccount | None = None) -> str:
    """msal's authority host (https): the account's `accounts_url` when it is Entra's or operator-set, else
    DYNAMICS_LOGIN_URL (DEBUG: the sandbox's HTTPS listener)."""
    _ensure_registered()
    configured = str(dynamics_settings.LOGIN_URL).rstrip("/")
    stored = outbound.origin_of(getattr(account, "accounts_url", "") or "") if account is not None else ""
    if not stored:
        return configured
    if outbound.vendor_url_allowed(kind=KIND, field="accounts_url", url=stored):
        return stored
    if stored == _origin(configured):
        return configured
    if account is not None and account.custom_endpoints:
        return stored
    raise DataverseAuthError(
        f"{account.name if account else 'The account'} names {stored} as its login host, which is not Entra ID's; "
        "only an operator may point an account elsewhere.",
        code="ENDPOINT_REFUSED",
    )


def authority(account: ProviderAccount | None, tenant_id: str) -> str:
    """msal's authority for a customer tenant: https://login.microsoftonline.com/<tenant id>."""
    tenant = (tenant_id or "").strip()
    if not tenant or "/" in tenant or "?" in tenant:
        raise DataverseAuthError(
            f"no valid Entra tenant id ({tenant_id!r}) for this Dynamics connection", code="NO_TENANT"
        )
    return f"{login_base(account)}/{tenant}"


def consent_base() -> str:
    """Where a person's browser goes for admin consent and sign-in (DYNAMICS_CONSENT_URL)."""
    return str(dynamics_settings.CONSENT_URL).rstrip("/")


def app_credentials(account: ProviderAccount | None) -> tuple[str, str]:
    """(client_id, client_secret): the account's own Entra app when it names one, else Leadline's
    (DYNAMICS_CLIENT_ID / DYNAMICS_CLIENT_SECRET)."""
    from crm.providers.dynamics.tokens import reveal

    if account is not None and account.client_id:
        return account.client_id, reveal(account.client_secret) or str(dynamics_settings.CLIENT_SECRET)
    return str(dynamics_settings.CLIENT_ID), str(dynamics_settings.CLIENT_SECRET)


def tenant_of(account: ProviderAccount | None, *, explicit: str = "", connection: Any = None) -> str:
    """The customer's Entra tenant id: `explicit` (the connect flow, whatever the connection's state), else the
    account's connection row's, refused (NOT_CONNECTED) once that connection was disconnected. The tenant's consent,
    which client credentials need, stays granted at Microsoft after a disconnect until the customer removes it, so
    this is where every call of a disconnected connection stops: each asks for its token through here, before Entra
    is asked (the state read afresh: another process may have disconnected it since the row was loaded)."""
    if explicit:
        return explicit
    row = connection if connection is not None else (_connection_of(account) if account is not None else None)
    tenant = str(getattr(row, "tenant_id", "") or "")
    name = account.name if account is not None else "The account"
    if not tenant:
        raise DataverseAuthError(f"{name} is not connected to Dynamics 365 (no Entra tenant yet)", code="NO_TENANT")
    if _disconnected(row):
        raise DataverseAuthError(f"{name} was disconnected from Dynamics 365: connect it again", code="NOT_CONNECTED")
    return tenant


# --- internals ------------------------------------------------------------------------------------------------
def _connection_of(account: ProviderAccount | None) -> Any:
    """The account's DynamicsConnection, read lazily (None when the model or the row is missing)."""
    if account is None or account.pk is None:
        return None
    try:
        return account.dynamics_connection
    except Exception:
        return None


def _disconnected(row: Any) -> bool:
    """Whether the connection row is disconnected now (its state read from the database)."""
    from crm.providers.dynamics.models import DynamicsConnection

    if getattr(row, "pk", None) is None:
        return getattr(row, "state", "") == DynamicsConnection.State.NOT_CONNECTED
    state = DynamicsConnection.unscoped_objects.filter(pk=row.pk).values_list("state", flat=True).first()
    return state == DynamicsConnection.State.NOT_CONNECTED


def _origin(url: str) -> str:
    """The origin of a URL that may carry a path ("" when it has none)."""
    parts = urlsplit(url)
    return outbound.origin_of(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else ""


def same_origin(url: str, base: str) -> bool:
    """Whether an absolute URL (a next or delta link) is on the environment's origin: a token never goes elsewhere."""
    origin = _origin(url)
    return bool(origin) and origin == _origin(base)
