"""Where a Dynamics account's calls go: the environment URL a manager may type (Dynamics' own hosts, https, an
origin), what only an operator may name (an emulator's host and path), how the environment, login host, tenant and
app credentials are found for an account."""

from __future__ import annotations

import pytest

from core.outbound import OutboundRefused
from crm.providers.dynamics import hosts
from crm.providers.dynamics.errors import DataverseAuthError
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

TENANT = "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://contoso.crm.dynamics.com", "https://contoso.crm.dynamics.com"),
        ("https://Contoso.CRM4.dynamics.com/", "https://contoso.crm4.dynamics.com"),
        ("https://contoso.crm11.dynamics.com/main.aspx", "https://contoso.crm11.dynamics.com"),
        ("https://contoso.crm.dynamics.com/main.aspx?appid=1&pagetype=entitylist", "https://contoso.crm.dynamics.com"),
        ("https://agency.crm.microsoftdynamics.us", "https://agency.crm.microsoftdynamics.us"),
        ("https://agency.crm.appsplatform.us", "https://agency.crm.appsplatform.us"),
        ("https://contoso.crm.dynamics.cn", "https://contoso.crm.dynamics.cn"),
    ],
)
def test_a_manager_may_name_an_environment_on_dynamics_hosts(typed, stored):
    assert hosts.environment_url_clean(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "http://contoso.crm.dynamics.com",
        "https://crm.dynamics.com",
        "https://contoso.crm.dynamics.com.evil.example",
        "https://contoso.dynamics.com",
        "https://contoso.crmx.dynamics.com",
        "https://contoso.crm.dynamics.com:8443",
        "https://contoso.crm.dynamics.com/api/data/v9.2",
        "https://127.0.0.1:8100/dynamics/harborfit",
        "https://user@contoso.crm.dynamics.com",
        "contoso.crm.dynamics.com",
    ],
)
def test_anything_else_is_refused_to_a_manager(typed):
    with pytest.raises(OutboundRefused):
        hosts.environment_url_clean(typed)


def test_an_operator_may_name_an_emulator_with_its_path(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    clean = hosts.environment_url_clean("http://127.0.0.1:8100/dynamics/harborfit/", operator=True)
    assert clean == "http://127.0.0.1:8100/dynamics/harborfit"


def test_the_registered_hosts_are_dynamics_own():
    from core import outbound

    hosts.hosts_register()
    assert outbound.vendor_url_allowed(kind="dynamics", field="api_domain", url="https://org.crm21.dynamics.com")
    assert outbound.vendor_url_allowed(kind="dynamics", field="accounts_url", url="https://login.microsoftonline.com")
    assert not outbound.vendor_url_allowed(kind="dynamics", field="accounts_url", url="https://login.example.com")


def account(**fields) -> ProviderAccount:
    organization = OrganizationFactory()
    defaults = {"name": "dv", "kind": "dynamics", "accounts_url": "https://login.microsoftonline.com"}
    return ProviderAccount.objects.create(organization=organization, **{**defaults, **fields})


def connect(target: ProviderAccount, **fields) -> ProviderAccount:
    from crm.providers.dynamics.models import DynamicsConnection

    fields.setdefault("state", DynamicsConnection.State.CONNECTED)
    DynamicsConnection.unscoped_objects.create(organization=target.organization, account=target, **fields)
    return ProviderAccount.unscoped_objects.get(pk=target.pk)


def test_the_environment_is_the_connections_then_the_accounts():
    plain = account(api_domain="https://contoso.crm.dynamics.com")
    assert hosts.environment_url(plain) == "https://contoso.crm.dynamics.com"
    assert hosts.api_base(plain) == "https://contoso.crm.dynamics.com/api/data/v9.2"
    connected = connect(plain, tenant_id=TENANT, environment_url="https://contoso.crm.dynamics.com")
    assert hosts.environment_url(connected) == "https://contoso.crm.dynamics.com"
    explicit = hosts.environment_url(connected, explicit="https://fabrikam.crm4.dynamics.com/")
    assert explicit == "https://fabrikam.crm4.dynamics.com"
    assert hosts.token_scope(explicit) == "https://fabrikam.crm4.dynamics.com/.default"


def test_an_operator_set_account_reaches_the_emulators_environment():
    emulated = account(api_domain="http://127.0.0.1:8100", accounts_url="https://127.0.0.1:8143", custom_endpoints=True)
    connected = connect(emulated, tenant_id=TENANT, environment_url="http://127.0.0.1:8100/dynamics/harborfit")
    assert hosts.environment_url(connected) == "http://127.0.0.1:8100/dynamics/harborfit"
    assert hosts.login_base(connected) == "https://127.0.0.1:8143"
    assert hosts.authority(connected, TENANT) == f"https://127.0.0.1:8143/{TENANT}"
    with pytest.raises(DataverseAuthError, match="not one of Dynamics' own hosts"):
        hosts.environment_url(connected, explicit="http://10.0.0.9/dynamics/other")


def test_a_managers_account_never_reaches_another_host():
    plain = account(api_domain="https://contoso.crm.dynamics.com")
    with pytest.raises(DataverseAuthError, match="only an operator"):
        hosts.environment_url(plain, explicit="http://127.0.0.1:8100/dynamics/harborfit")
    with pytest.raises(DataverseAuthError, match="only an operator"):
        hosts.login_base(account(name="dv2", accounts_url="https://127.0.0.1:8143"))
    with pytest.raises(DataverseAuthError, match="no Dynamics environment"):
        hosts.environment_url(account(name="dv3"))


def test_the_login_host_and_the_consent_host(settings):
    settings.DYNAMICS_LOGIN_URL = "https://login.microsoftonline.com"
    settings.DYNAMICS_CONSENT_URL = "https://login.microsoftonline.com/"
    assert hosts.login_base(None) == "https://login.microsoftonline.com"
    assert (
        hosts.login_base(account(accounts_url="https://login.microsoftonline.us")) == "https://login.microsoftonline.us"
    )
    assert hosts.consent_base() == "https://login.microsoftonline.com"


def test_development_points_at_the_sandbox(settings):
    for name in ("DYNAMICS_LOGIN_URL", "DYNAMICS_CONSENT_URL", "DYNAMICS_CA_BUNDLE", "DYNAMICS_CLIENT_ID"):
        if hasattr(settings, name):
            delattr(settings, name)
    settings.DEBUG = True
    settings.SANDBOX_TLS_URL = "https://127.0.0.1:8143"
    settings.SANDBOX_URL = "http://127.0.0.1:8100"
    settings.SANDBOX_TLS_DIR = "/tmp/tls"
    from crm.providers.dynamics.conf import DEMO_CLIENT_ID, dynamics_settings

    assert dynamics_settings.LOGIN_URL == "https://127.0.0.1:8143"
    assert dynamics_settings.CONSENT_URL == "http://127.0.0.1:8100/entra"
    assert dynamics_settings.CA_BUNDLE == "/tmp/tls/cert.pem"
    assert dynamics_settings.CLIENT_ID == DEMO_CLIENT_ID
    settings.DEBUG = False
    assert dynamics_settings.LOGIN_URL == "https://login.microsoftonline.com"
    assert dynamics_settings.CONSENT_URL == "https://login.microsoftonline.com"
    assert dynamics_settings.CA_BUNDLE == ""
    assert dynamics_settings.CLIENT_ID == ""


def test_the_tenant_is_explicit_or_the_connections():
    connected = connect(account(api_domain="https://contoso.crm.dynamics.com"), tenant_id=TENANT)
    assert hosts.tenant_of(connected) == TENANT
    assert hosts.tenant_of(connected, explicit="other") == "other"
    with pytest.raises(DataverseAuthError, match="no Entra tenant"):
        hosts.tenant_of(account(name="dv2", api_domain="https://contoso.crm.dynamics.com"))
    with pytest.raises(DataverseAuthError, match="no valid Entra tenant"):
        hosts.authority(connected, "a/b")
    disconnected = connect(account(name="dv3", api_domain="https://contoso.crm.dynamics.com"), tenant_id=TENANT)
    disconnected.dynamics_connection.state = "not_connected"
    disconnected.dynamics_connection.save(update_fields=["state"])
    with pytest.raises(DataverseAuthError, match="disconnected") as caught:
        hosts.tenant_of(disconnected)
    assert caught.value.code == "NOT_CONNECTED"
    assert hosts.tenant_of(disconnected, explicit=TENANT) == TENANT  # connecting again names its tenant


def test_an_account_may_bring_its_own_entra_app(settings):
    settings.DYNAMICS_CLIENT_ID = "leadline-app"
    settings.DYNAMICS_CLIENT_SECRET = "leadline-secret"
    assert hosts.app_credentials(account()) == ("leadline-app", "leadline-secret")
    own = account(name="dv2", client_id="their-app", client_secret="their-secret")
    assert hosts.app_credentials(ProviderAccount.unscoped_objects.get(pk=own.pk)) == ("their-app", "their-secret")


def test_links_keep_to_the_environments_origin():
    base = "https://contoso.crm.dynamics.com/api/data/v9.2"
    assert hosts.same_origin("https://contoso.crm.dynamics.com/api/data/v9.2/leads?$skiptoken=1", base)
    assert not hosts.same_origin("https://contoso.crm4.dynamics.com/api/data/v9.2/leads", base)
    assert not hosts.same_origin("/api/data/v9.2/leads", base)
