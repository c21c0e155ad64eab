import uuid

import pytest

from tests.factories import (
    MembershipFactory,
    OperatorFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    StudioFactory,
    TwilioAccountFactory,
    ZohoCrmAccountFactory,
)


@pytest.fixture(autouse=True)
def _isolated_broker_dir(settings, tmp_path):
    """Tasks enqueued by code under test never land in the developer's var/celery."""
    settings.CELERY_FILESYSTEM_BROKER_DIR = tmp_path / "celery"


@pytest.fixture(autouse=True)
def _fresh_sign_in_counters(monkeypatch):
    """Each test counts failed sign-ins from zero: tests share a Redis database and the client address 127.0.0.1,
    so failures left by earlier tests would otherwise lock later ones out (identity.throttle)."""
    monkeypatch.setattr("identity.throttle.KEY_PREFIX", f"accounts:sign-in:test-{uuid.uuid4().hex}")


class Tenant:
    """One organization with two studios, a manager, a staff member of the first studio, accounts and numbers."""

    def __init__(self, slug: str):
        self.organization = OrganizationFactory(slug=slug, name=f"{slug.title()} Fitness")
        self.studio = StudioFactory(organization=self.organization, slug=f"{slug}-main", name=f"{slug.title()} Main")
        self.other_studio = StudioFactory(
            organization=self.organization, slug=f"{slug}-east", name=f"{slug.title()} East"
        )
        self.manager = MembershipFactory(
            organization=self.organization, manager=True, user__email=f"manager@{slug}.test"
        )
        self.staff = MembershipFactory(
            organization=self.organization, studios=[self.studio], user__email=f"staff@{slug}.test"
        )
        self.twilio = TwilioAccountFactory(organization=self.organization, name=f"{slug}-twilio")
        self.zoho = ZohoCrmAccountFactory(organization=self.organization, name=f"{slug}-zoho")
        self.number = PhoneNumberFactory(organization=self.organization, account=self.twilio, studio=self.studio)
        self.shared_number = PhoneNumberFactory(organization=self.organization, account=self.twilio, studio=None)


@pytest.fixture
def tenant_a(db) -> Tenant:
    return Tenant("acme")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return Tenant("bolt")


@pytest.fixture
def operator(db):
    return OperatorFactory(email="operator@leadline.test")


@pytest.fixture
def sandbox():
    """The local emulator of Zoho and Twilio, served over real HTTP on a free port for this test.

    `sandbox.url` is the base URL for every vendor; `sandbox.state` is its in-memory world (demo data)."""
    from sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def empty_sandbox():
    """The sandbox with only the demo accounts and no CRM records."""
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty") as server:
        yield server


@pytest.fixture
def tls_sandbox(settings):
    """The sandbox with no CRM records, also served over HTTPS with its own certificate: the sign-in host whose
    client library accepts only an https authority (`tls_url`, `ca_path`), set as the product's login host and CA
    bundle for this test."""
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty", tls=True) as server:
        settings.DYNAMICS_LOGIN_URL = server.tls_url
        settings.DYNAMICS_CA_BUNDLE = server.ca_path
        yield server
