"""The registry: providers register by kind, connections find theirs, unknown kinds fail clearly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from crm import registry
from crm.errors import CrmError
from crm.provider import CrmProvider
from crm.records import Capability, Subscription
from crm.registry import UnknownCrm, provider_class, provider_for, register, registered


@pytest.fixture
def clean_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "_PROVIDERS", dict(registry._PROVIDERS))
    monkeypatch.setattr(registry, "_CONNECTION_KINDS", dict(registry._CONNECTION_KINDS))


class Minimal(CrmProvider):
    """Implements nothing optional: every abstract method answers trivially."""

    object_names = {"lead": "Prospect"}
    connection_kinds = ("minimal_account",)

    def authorize_url(self, *, session, options=None):
        return "https://crm.example/consent"

    def finish_connect(self, *, params, session, connected_by=""):
        raise NotImplementedError

    def disconnect(self):
        pass

    def identity(self):
        raise NotImplementedError

    def objects(self):
        return []

    def object_spec(self, *, object):
        raise NotImplementedError

    def record(self, *, object, record_id):
        raise NotImplementedError

    def changed_since(self, *, object, cursor, page_size=200):
        raise NotImplementedError

    def deleted_since(self, *, object, since):
        return iter(())

    def all_ids(self, *, object):
        return iter(())

    def records_by_phone(self, *, object, phone):
        return []

    def to_canonical(self, *, object, record):
        raise NotImplementedError

    def create_task(self, *, object, record_id, owner_id, subject, due_date=None, description=""):
        raise NotImplementedError

    def update_fields(self, *, object, record_id, values):
        pass

    def create_record(self, *, object, values):
        return "1"


def test_zoho_is_registered_and_serves_zoho_crm_accounts():
    assert "zoho" in registered()
    assert provider_class("zoho") is provider_class("zoho_crm")
    assert provider_class("zoho").kind == "zoho"


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(UnknownCrm, match=r"no CRM provider for 'pipedrive' \(registered: .*zoho"):
        provider_class("pipedrive")
    with pytest.raises(UnknownCrm, match="no CRM provider for 'twilio'"):
        provider_for(SimpleNamespace(kind="twilio"))
    with pytest.raises(UnknownCrm, match="has no kind"):
        provider_for(object())
    assert issubclass(UnknownCrm, CrmError)
    assert issubclass(UnknownCrm, LookupError)


def test_register_binds_the_kind_and_connection_kinds(clean_registry):
    register("minimal")(Minimal)
    assert "minimal" in registered()
    provider = provider_for(SimpleNamespace(kind="minimal_account"))
    assert isinstance(provider, Minimal)
    assert provider.kind == "minimal"
    assert provider.vendor_object("lead") == "Prospect"
    assert provider.canonical_object("Prospect") == "lead"
    with pytest.raises(ValueError, match="unknown object 'deal'"):
        provider.vendor_object("deal")


def test_register_refuses_mistakes(clean_registry):
    with pytest.raises(ValueError, match="lower-case identifier"):
        register("Sales Force")
    with pytest.raises(TypeError, match="CrmProvider subclass"):
        register("thing")(dict)
    with pytest.raises(ValueError, match="already registered"):

        @register("zoho")
        class Impostor(Minimal):
            connection_kinds = ()


def test_an_undeclared_capability_is_not_implemented(clean_registry):
    provider = register("minimal")(Minimal)(SimpleNamespace(kind="minimal_account"))
    assert not provider.supports(Capability.CHANGE_FEED)
    subscription = Subscription(id="1", objects=("lead",), notify_url="https://x.test/")
    with pytest.raises(NotImplementedError, match="does not support change_feed"):
        provider.subscribe(subscription=subscription)
    with pytest.raises(NotImplementedError, match="bulk_export"):
        provider.export_start(object="lead")
    with pytest.raises(NotImplementedError, match="upsert_by_external_id"):
        provider.upsert(object="lead", external_id_field="Ext", values={"Ext": "1"})


def test_a_provider_without_its_methods_cannot_be_made():
    class Half(CrmProvider):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Half(SimpleNamespace(kind="x"))
