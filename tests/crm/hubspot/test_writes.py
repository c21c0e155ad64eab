"""HubSpot writes against the emulator over real HTTP: tasks (hs_timestamp at the organization's day start, NOT_STARTED,
the connection's owner when none is named, associated with a contact or a deal by the type the labels endpoint
names, read once per process), field updates as HubSpot's property text ("" clears, a refused property named),
record creates, and upserts by a unique-value property (another refused before any write). Every vendor error
leaves as a crm.errors type.

The fixtures here (a portal, an installed account with its connection, the provider) are imported by
test_activities.py and test_writes_errors.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from django.core.cache import cache

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.hubspot import writes
from crm.registry import provider_for
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory, StudioFactory

pytestmark = pytest.mark.django_db

LEAD = "lead"
OPT_OUT = "leadline_sms_opt_out"


def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=60)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


class Portal:
    """One emulated portal through the control API."""

    def __init__(self, server: Any, summary: dict[str, Any], install: dict[str, Any]) -> None:
        self.server = server
        self.id = str(summary["portal_id"])
        self.owners = [str(owner["id"]) for owner in summary["owners"]]
        self.install = install

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return control(self.server, method, f"hubspot/portals/{self.id}{path}", body)

    def contact(self, **properties: str) -> str:
        values = {"firstname": "Ada", "lastname": "Lovelace", **properties}
        return str(self.call("POST", "/records/contacts", {"properties": values})["id"])

    def deal(self, **properties: str) -> str:
        return str(self.call("POST", "/records/deals", {"properties": {"dealname": "Annual", **properties}})["id"])

    def read(self, object_type: str, record_id: str) -> dict[str, Any]:
        return self.call("GET", f"/records/{object_type}/{record_id}")

    def records(self, object_type: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/records/{object_type}")["results"]

    def archive(self, object_type: str, record_id: str) -> None:
        self.call("DELETE", f"/records/{object_type}/{record_id}")

    def linked(self, object_type: str, record_id: str, to_type: str) -> list[dict[str, Any]]:
        return self.read(object_type, record_id)["associations"].get(to_type, [])


@pytest.fixture
def portal(empty_sandbox) -> Portal:
    cache.clear()
    writes.forget_association_types()
    summary = control(empty_sandbox, "POST", "hubspot/portals", {"name": "Peak Writes", "owner_count": 2})
    install = control(empty_sandbox, "POST", f"hubspot/portals/{summary['portal_id']}/installs", {})
    yield Portal(empty_sandbox, summary, install)
    cache.clear()
    writes.forget_association_types()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="peak", name="Peak Performance Gyms")


@pytest.fixture
def account(empty_sandbox, portal, organization) -> ProviderAccount:
    from crm.providers.hubspot.conf import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from crm.providers.hubspot.models import HubSpotConnection

    account = ProviderAccount.objects.create(
        organization=organization,
        name="peak-hubspot",
        kind="hubspot",
        is_default=True,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        refresh_token=portal.install["refresh_token"],
        accounts_url=empty_sandbox.url,
        api_domain=empty_sandbox.url,
        custom_endpoints=True,  # an operator pointed it at the sandbox
    )
    HubSpotConnection.objects.create(
        organization=organization,
        account=account,
        state="connected",
        hub_id=portal.id,
        user_id=str(portal.install["user_id"]),
        owner_id=portal.owners[0],
    )
    return account


@pytest.fixture
def provider(account):
    return provider_for(account, sleep=lambda seconds: None)


def timestamp_ms(value: str) -> int:
    """hs_timestamp as the emulator holds it (ISO) or as sent (ms) in epoch milliseconds."""
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


# --- tasks -----------------------------------------------------------------------------------------------------
def test_a_task_on_a_contact_is_due_at_the_organizations_day_start_and_associated(portal, provider, organization):
    StudioFactory(organization=organization, time_zone="America/Denver")
    contact = portal.contact()
    owner = portal.owners[1]
    task_id = provider.create_task(
        object=LEAD,
        record_id=contact,
        owner_id=owner,
        subject="Call the new lead",
        due_date=date(2026, 12, 8),
        description="Booked a trial class",
    )
    task = portal.read("tasks", task_id)
    held = task["properties"]
    assert (held["hs_task_subject"], held["hs_task_body"], held["hs_task_status"]) == (
        "Call the new lead",
        "Booked a trial class",
        "NOT_STARTED",
    )
    assert held["hubspot_owner_id"] == owner
    assert held["hs_task_priority"]
    due = datetime(2026, 12, 8, tzinfo=ZoneInfo("America/Denver"))
    assert timestamp_ms(held["hs_timestamp"]) == int(due.timestamp() * 1000)
    assert task["associations"]["contacts"] == [{"id": contact, "type_ids": [204]}]
    assert [link["id"] for link in portal.linked("contacts", contact, "tasks")] == [task_id]


def test_a_task_without_an_owner_is_the_connections_and_without_a_date_due_now(portal, provider):
    contact = portal.contact()
    before = datetime.now(UTC).timestamp() * 1000
    task_id = provider.create_task(object="contact", record_id=contact, owner_id="", subject="Follow up")
    held = portal.read("tasks", task_id)["properties"]
    assert held["hubspot_owner_id"] == portal.owners[0]
    assert before - 60_000 <= timestamp_ms(held["hs_timestamp"]) <= datetime.now(UTC).timestamp() * 1000 + 60_000


def test_a_task_on_a_deal_uses_the_task_to_deal_type(portal, provider):
    deal = portal.deal()
    task_id = provider.create_task(object="deal", record_id=deal, owner_id=portal.owners[0], subject="Renewal call")
    assert portal.read("tasks", task_id)["associations"]["deals"] == [{"id": deal, "type_ids": [216]}]


def test_a_task_on_no_record_has_no_association(portal, provider):
    task_id = provider.create_task(object=LEAD, record_id="", owner_id="", subject="A reply no lead matched")
    task = portal.read("tasks", task_id)
    assert task["associations"] == {}
    assert task["properties"]["hs_task_subject"] == "A reply no lead matched"


def test_association_types_are_read_from_the_labels_endpoint_once_per_process(portal, provider):
    first, second = portal.contact(), portal.contact()
    calls = provider.client.calls
    provider.create_task(object=LEAD, record_id=first, owner_id="", subject="one")
    assert provider.client.calls - calls == 2  # the labels, then the task
    assert writes._type_ids[("tasks", "contacts")] == 204
    calls = provider.client.calls
    provider.create_task(object=LEAD, record_id=second, owner_id="", subject="two")
    assert provider.client.calls - calls == 1


def test_labels_naming_no_type_fall_back_to_the_known_ids(provider, monkeypatch):
    monkeypatch.setattr(type(provider.client), "association_labels", lambda self, a, b: [])
    assert writes.association_type_id(provider, "tasks", "deals") == 216
    monkeypatch.setattr(
        type(provider.client),
        "association_labels",
        lambda self, a, b: [
            {"category": "USER_DEFINED", "typeId": 7, "label": "Coach"},
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
        ],
    )
    assert writes.association_type_id(provider, "tasks", "companies") == 279  # the unlabeled one


def test_a_task_on_a_record_id_that_is_no_hubspot_id_is_not_found_without_a_call(provider):
    calls = provider.client.calls
    with pytest.raises(CrmNotFound):
        provider.create_task(object=LEAD, record_id="00Q000000000001", owner_id="", subject="x")
    assert provider.client.calls == calls


def test_a_task_on_a_deleted_contact_is_rejected(portal, provider):
    contact = portal.contact()
    portal.archive("contacts", contact)
    with pytest.raises(CrmRejected) as caught:
        provider.create_task(object=LEAD, record_id=contact, owner_id="", subject="x")
    assert caught.value.provider == "hubspot"


# --- field updates and creates ---------------------------------------------------------------------------------
def test_fields_are_written_as_hubspot_text_and_an_empty_value_clears(portal, provider):
    contact = portal.contact(jobtitle="Coach")
    provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: True, "jobtitle": "", "lastname": "Byron"})
    held = portal.read("contacts", contact)["properties"]
    assert (held[OPT_OUT], held["lastname"]) == ("true", "Byron")
    assert not held.get("jobtitle")
    provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: False})
    assert portal.read("contacts", contact)["properties"][OPT_OUT] == "false"
    assert provider.record(object=LEAD, record_id=contact).get(OPT_OUT) is False


def test_property_text_is_what_hubspot_takes():
    moment = datetime(2026, 12, 8, 17, 30, tzinfo=UTC)
    values = {"a": True, "b": False, "c": date(2026, 12, 8), "d": moment, "e": None, "f": 3, "g": ""}
    assert writes.properties_text(values) == {
        "a": "true",
        "b": "false",
        "c": "2026-12-08",
        "d": str(int(moment.timestamp() * 1000)),
        "e": "",
        "f": "3",
        "g": "",
    }


def test_a_value_hubspot_refuses_is_rejected_naming_its_property(portal, provider):
    contact = portal.contact()
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: "not a boolean"})
    assert not isinstance(caught.value, CrmNotFound)
    assert OPT_OUT in caught.value.field_errors
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object=LEAD, record_id=contact, values={"no_such_property": "x"})
    assert "no_such_property" in caught.value.field_errors
    assert caught.value.message


def test_an_update_of_a_missing_record_is_not_found(portal, provider):
    contact = portal.contact()
    portal.archive("contacts", contact)
    with pytest.raises(CrmNotFound):
        provider.update_fields(object=LEAD, record_id=contact, values={"lastname": "Gone"})
    with pytest.raises(CrmNotFound):
        provider.update_fields(object=LEAD, record_id="not-an-id", values={"lastname": "Gone"})


def test_creating_a_contact_returns_an_id_hubspot_knows(portal, provider):
    record_id = provider.create_record(object=LEAD, values={"lastname": "Created", OPT_OUT: False, "phone": None})
    held = portal.read("contacts", record_id)["properties"]
    assert (held["lastname"], held[OPT_OUT]) == ("Created", "false")
    assert not held.get("phone")


# --- upserts ---------------------------------------------------------------------------------------------------
def unique_property(provider, name: str = "leadline_id") -> str:
    provider.client.post(
        provider.client.paths.properties("contacts"),
        json={
            "name": name,
            "label": "Leadline id",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        },
        expect=(201,),
    )
    return name


def test_an_upsert_by_a_unique_property_creates_then_updates_the_same_record(portal, provider):
    field = unique_property(provider)
    record_id, created = provider.upsert(
        object=LEAD, external_id_field=field, values={field: "intake-7", "lastname": "Upserted"}
    )
    assert created
    again, created_again = provider.upsert(
        object=LEAD, external_id_field=field, values={field: "intake-7", "jobtitle": "Coach"}
    )
    assert (again, created_again) == (record_id, False)
    held = portal.read("contacts", record_id)["properties"]
    assert (held["lastname"], held["jobtitle"], held[field]) == ("Upserted", "Coach", "intake-7")


def test_contacts_upsert_by_email(portal, provider):
    record_id, created = provider.upsert(
        object=LEAD, external_id_field="email", values={"email": "ada@example.com", "lastname": "Lovelace"}
    )
    assert created
    assert provider.upsert(object=LEAD, external_id_field="email", values={"email": "ADA@example.com"}) == (
        record_id,
        False,
    )


def test_an_upsert_by_a_property_without_unique_values_is_refused_before_any_write(portal, provider):
    provider._properties("contacts")  # the definitions read (and cached) first
    calls = provider.client.calls
    with pytest.raises(CrmRejected, match="not a unique-value property") as caught:
        provider.upsert(object=LEAD, external_id_field="jobtitle", values={"jobtitle": "Coach", "lastname": "X"})
    assert "jobtitle" in caught.value.field_errors
    assert provider.client.calls == calls
    assert portal.records("contacts") == []
    with pytest.raises(CrmRejected, match="no property"):
        provider.upsert(object=LEAD, external_id_field="nothing_like_it", values={"nothing_like_it": "1"})
    with pytest.raises(CrmRejected, match="needs a value"):
        provider.upsert(object=LEAD, external_id_field="email", values={"lastname": "X"})
