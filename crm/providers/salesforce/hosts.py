"""Where Salesforce's OAuth may send us: the login hosts a code (and our client secret) may go to, the instance a
token answer names, and whether a login host is a sandbox org's. Salesforce's own hosts are core.outbound's
registered ones; an operator may add login hosts (SALESFORCE_LOGIN_SERVERS) or set an account's own (an emulator)."""

from __future__ import annotations

from urllib.parse import urlsplit

from core import outbound
from crm.errors import CrmAuthError, CrmRejected
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import PROVIDER
from studios.models import ProviderAccount, ProviderKind

PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
LOGIN_CHOICES = [
    ("account", "The account's login host (production, or your My Domain)"),
    ("production", f"Production or Developer Edition org ({PRODUCTION_LOGIN})"),
    ("sandbox", f"Sandbox org ({SANDBOX_LOGIN})"),
]


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


def sandbox_login(login: str) -> bool:
    """Whether a login host is a sandbox org's: test.salesforce.com, or a sandbox's My Domain
    (<domain>--<sandbox>.sandbox.my.salesforce.com)."""
    host = urlsplit(login).hostname or ""
    return host == urlsplit(SANDBOX_LOGIN).hostname or host.endswith(".sandbox.my.salesforce.com")
