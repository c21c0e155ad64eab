"""The one outbound guard: vendor URLs are checked for shape, and every connection resolves the host and refuses
private, loopback and link-local addresses unless OUTBOUND_ALLOW_PRIVATE_HOSTS allows them. No test here reaches
the internet: the resolver is replaced (socket.getaddrinfo), and a refused request never opens a socket."""

from __future__ import annotations

import socket

import pytest
import requests

from core import outbound
from core.http import make_session
from core.outbound import OutboundRefused


def fake_resolver(monkeypatch, table: dict[str, list[str]]):
    """socket.getaddrinfo answering from `table` (host -> addresses); other hosts resolve as usual."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            asked.append(name)
            out = []
            for address in table[name]:
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
                out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        return real(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def private_off(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False


# --- the allowlist and the shape of a stored URL ------------------------------------------------------------------
@pytest.fixture
def acme():
    """A vendor registered the way each vendor package registers its hosts when Django starts."""
    outbound.vendor_hosts_register(
        kind="acme_crm",
        vendor="Acme",
        fields={"api_domain": {"api.acme.example", "API.Acme-EU.example."}, "accounts_url": {"login.acme.example"}},
    )
    yield
    for field in ("api_domain", "accounts_url"):
        outbound.VENDOR_HOSTS.pop(("acme_crm", field), None)
    outbound._VENDOR_NAMES.pop("acme_crm", None)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("api_domain", "https://api.acme.example"),
        ("api_domain", "https://api.acme-eu.example/"),  # registered in capitals with a trailing dot
        ("api_domain", "https://API.Acme.Example:443"),
        ("accounts_url", "https://login.acme.example"),
    ],
)
def test_a_registered_vendors_own_hosts_are_allowed(acme, field, url):
    assert outbound.vendor_url_allowed(kind="acme_crm", field=field, url=url)
    assert outbound.endpoint_clean(url, kind="acme_crm", field=field, operator=False).startswith("https://")
    assert outbound.vendor_hosts(kind="acme_crm", field="api_domain") == ["api.acme-eu.example", "api.acme.example"]


@pytest.mark.parametrize(
    ("field", "url", "why"),
    [
        ("api_domain", "http://api.acme.example", "https"),
        ("api_domain", "https://api.acme.example.evil.example", "acme's own"),
        ("api_domain", "https://169.254.169.254", "own"),
        ("api_domain", "https://api.acme.example?x=", "query"),
        ("api_domain", "https://api.acme.example/#frag", "fragment"),
        ("api_domain", "https://user:pw@api.acme.example", "user"),
        ("api_domain", "https://api.acme.example/v8", "path"),
        ("api_domain", "https://api.acme.example:8443", "own"),
        ("api_domain", "https://login.acme.example", "own"),  # an accounts host is no API domain
        ("accounts_url", "https://api.acme.example", "own"),
        ("accounts_url", "ftp://login.acme.example", "https"),
    ],
)
def test_a_manager_may_set_nothing_else(acme, field, url, why):
    assert not outbound.vendor_url_allowed(kind="acme_crm", field=field, url=url)
    with pytest.raises(OutboundRefused) as refused:
        outbound.endpoint_clean(url, kind="acme_crm", field=field, operator=False)
    assert why in refused.value.message.lower()


def test_a_kind_no_package_registered_allows_no_host():
    assert not outbound.vendor_url_allowed(kind="unknown_crm", field="api_domain", url="https://api.acme.example")
    with pytest.raises(OutboundRefused, match="the vendor's own addresses"):
        outbound.endpoint_clean("https://api.acme.example", kind="unknown_crm", field="api_domain", operator=False)


def test_registering_again_replaces_a_fields_hosts(acme):
    outbound.vendor_hosts_register(kind="acme_crm", vendor="Acme", fields={"api_domain": {"api2.acme.example"}})
    assert outbound.vendor_url_allowed(kind="acme_crm", field="api_domain", url="https://api2.acme.example")
    assert not outbound.vendor_url_allowed(kind="acme_crm", field="api_domain", url="https://api.acme.example")
    assert outbound.vendor_url_allowed(kind="acme_crm", field="accounts_url", url="https://login.acme.example")


def test_an_operator_may_set_an_emulator_but_not_a_private_address_unless_allowed(acme, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    assert outbound.endpoint_clean("https://emulator.example.org", kind="acme_crm", field="api_domain", operator=True)
    for url in (
        "http://127.0.0.1:8100",
        "https://10.0.0.5",
        "https://[::1]:8100",
        "https://localhost",
        "https://[fe80::1]",
    ):
        with pytest.raises(OutboundRefused, match="private"):
            outbound.endpoint_clean(url, kind="acme_crm", field="api_domain", operator=True)
    with pytest.raises(OutboundRefused, match="https"):
        outbound.endpoint_clean("http://emulator.example.org", kind="acme_crm", field="api_domain", operator=True)
    with pytest.raises(OutboundRefused, match="query"):
        outbound.endpoint_clean("https://emulator.example.org/?a=1", kind="acme_crm", field="api_domain", operator=True)

    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    assert (
        outbound.endpoint_clean("http://127.0.0.1:8100/", kind="acme_crm", field="api_domain", operator=True)
        == "http://127.0.0.1:8100"
    )


# --- call time: resolve, then check the address -----------------------------------------------------------------
@pytest.mark.parametrize(
    "address", ["10.1.2.3", "127.0.0.1", "169.254.169.254", "192.168.0.7", "::1", "::ffff:10.0.0.1"]
)
def test_an_allowed_host_that_resolves_to_a_private_address_is_refused(monkeypatch, private_off, address):
    asked = fake_resolver(monkeypatch, {"api.crm.example": [address]})
    session = make_session("crm", timeout=2)
    with pytest.raises(OutboundRefused, match="private") as refused:
        session.get("https://api.crm.example/v8/org")
    assert "api.crm.example" in refused.value.message
    assert asked == ["api.crm.example"]


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch, private_off):
    fake_resolver(monkeypatch, {"api.sms.example": ["54.172.60.1", "10.0.0.9"]})
    with pytest.raises(OutboundRefused):
        make_session("sms", timeout=2).post("https://api.sms.example/v1/messages")


def test_public_addresses_pass_the_check(monkeypatch, private_off):
    fake_resolver(monkeypatch, {"accounts.crm.example": ["185.230.212.1", "2a02:2d8::1"]})
    infos = outbound.host_addresses_check("accounts.crm.example", 443)
    assert [info[4][0] for info in infos] == ["185.230.212.1", "2a02:2d8::1"]


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch, settings, sandbox):
    """With private hosts allowed (tests, DEBUG), a name resolving to the sandbox's loopback address is called
    there: the guard connects to the very address it checked, not to a second lookup's answer."""
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    port = sandbox.url.rsplit(":", 1)[1]
    fake_resolver(monkeypatch, {"vendor.test": ["127.0.0.1"]})
    response = make_session("test", timeout=5).get(f"http://vendor.test:{port}/_sandbox/health")
    assert response.status_code < 500


def test_a_url_with_userinfo_or_another_scheme_is_refused_at_call_time(private_off):
    session = make_session("test", timeout=2)
    with pytest.raises(OutboundRefused, match="user"):
        session.get("https://user:secret@api.crm.example/v8/org")
    with pytest.raises(OutboundRefused, match="https"):
        session.get("http://api.crm.example/v8/org")


def test_a_redirect_to_a_private_address_is_refused(monkeypatch, private_off):
    """The guard sits in the adapter, so a redirect (a second request) is checked like the first."""
    fake_resolver(monkeypatch, {"api.crm.example": ["10.9.9.9"]})
    session = make_session("test", timeout=2)
    request = requests.Request("GET", "https://api.crm.example/v8/org").prepare()
    with pytest.raises(OutboundRefused):
        session.send(request)


def test_the_error_is_typed_and_not_a_connection_failure():
    """Callers must not mistake a refusal for an outage (and retry it, or fail over as if the vendor were down)."""
    assert not issubclass(OutboundRefused, requests.RequestException)


@pytest.fixture
def wildcard_vendor():
    outbound.vendor_hosts_register(kind="acme_wild", vendor="Acme", fields={"api_domain": {"*.my.acme.example"}})
    yield
    outbound.VENDOR_HOSTS.pop(("acme_wild", "api_domain"), None)
    outbound._VENDOR_NAMES.pop("acme_wild", None)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://studio.my.acme.example", True),
        ("https://Studio--Dev.Sandbox.my.acme.example.", True),  # several labels, capitals, trailing dot
        ("https://my.acme.example", False),  # the suffix itself is not under it
        ("https://evilmy.acme.example", False),
        ("https://studio.my.acme.example.evil.example", False),
        ("http://studio.my.acme.example", False),
        ("https://studio.my.acme.example:8443", False),
    ],
)
def test_a_wildcard_host_allows_subdomains_only(wildcard_vendor, url, allowed):
    assert outbound.vendor_url_allowed(kind="acme_wild", field="api_domain", url=url) is allowed
