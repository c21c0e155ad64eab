"""Two-way sync's writes against the HubSpot emulator over real HTTP: `upsert_many` by the portal's unique
`leadline_id` (batch/upsert, 100 inputs a call, a retry never duplicates), `update_many` (batch/update), refused
rows isolated from a batch HubSpot refuses whole (a validation rule, a taken unique value, a bad option) so the
good rows land and each bad one has its own message, `delete_record` (archive; False for a record HubSpot does not
have), typed values written and read back as given, and the emulator's tally of records written.

Fixtures from conftest.py: `hs` (the portal's control API), `provider`, `empty_sandbox`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm.errors import CrmNotFound, CrmRateLimited, CrmRejected, CrmUnavailable
from tests.crm.harness_hubspot import control, fail_writes

pytestmark = pytest.mark.django_db

LEAD = "lead"
KEY = "leadline_id"


def written(server, hs) -> int:
    return int(control(server, "GET", "counters").get(f"hubspot.records_written:{hs.portal_id}", 0))


def batch_calls(server, action: str) -> int:
    """Calls the emulator answered on a batch endpoint (either path family)."""
    return sum(count for name, count in control(server, "GET", "counters").items() if f"batch_{action}" in name)


def rows(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{KEY: f"ll-{n}", "firstname": "Row", "lastname": f"Number {n}"} for n in range(start, start + count)]


def test_upsert_many_creates_then_updates_by_the_unique_property_without_duplicates(hs, provider, empty_sandbox):
    first = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(150))
    assert [result.ok for result in first] == [True] * 150
    assert all(result.created for result in first)
    assert len({result.record_id for result in first}) == 150
    assert batch_calls(empty_sandbox, "upsert") == 2  # 100 + 50
    assert written(empty_sandbox, hs) == 150

    again = provider.upsert_many(
        object=LEAD, external_id_field=KEY, rows=[{**row, "city": "Denver"} for row in rows(150)]
    )
    assert [result.record_id for result in again] == [result.record_id for result in first]
    assert not any(result.created for result in again)
    assert len(hs.ids("contacts")) == 150
    assert hs.read("contacts", first[7].record_id)["properties"]["city"] == "Denver"
    assert written(empty_sandbox, hs) == 300


def test_a_refused_row_has_its_own_message_and_the_others_land(hs, provider, empty_sandbox):
    hs.call("POST", "/validation-rules", {"object_type": "contacts", "property": "jobtitle", "message": "No titles"})
    batch = rows(10)
    batch[3]["jobtitle"] = "Coach"
    batch[8]["lifecyclestage"] = "not-a-stage"
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=batch)
    assert [result.ok for result in results] == [True, True, True, False, True, True, True, True, False, True]
    assert isinstance(results[3].error, CrmRejected)
    assert "No titles" in str(results[3].error)
    assert "jobtitle" in results[3].error.field_errors
    assert "lifecyclestage" in results[8].error.field_errors
    assert len(hs.ids("contacts")) == 8
    assert written(empty_sandbox, hs) == 8  # refused rows count none
    # the whole batch, its row setting jobtitle, the other nine, its row setting lifecyclestage, the other eight
    assert batch_calls(empty_sandbox, "upsert") == 5

    hs.call("DELETE", "/validation-rules", {"object_type": "contacts"})
    batch[8].pop("lifecyclestage")
    retried = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=[batch[3], batch[8]])
    assert [result.created for result in retried] == [True, True]
    assert hs.read("contacts", retried[0].record_id)["properties"]["jobtitle"] == "Coach"


def test_upsert_many_needs_a_unique_property_and_a_value(provider):
    with pytest.raises(CrmRejected, match="not a unique-value property"):
        provider.upsert_many(object=LEAD, external_id_field="city", rows=[{"city": "Denver"}])
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=[{"lastname": "No key"}, rows(1)[0]])
    assert results[0].error.field_errors == {KEY: "required"}
    assert results[1].created


def test_update_many_isolates_missing_records_and_refused_values(hs, provider, empty_sandbox):
    ids = [result.record_id for result in provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(5))]
    gone = ids[4]
    hs.archive("contacts", gone)
    taken = "ll-0"
    updates = [
        (ids[0], {"city": "Boulder"}),
        (ids[1], {KEY: taken}),  # another contact holds it: the unique-value rule refuses it
        (gone, {"city": "Nowhere"}),
        (ids[2], {"hs_lead_status": "NOT_A_STATUS"}),
        (ids[3], {"city": "Golden"}),
        ("not-an-id", {"city": "Anywhere"}),
        (ids[3], {"city": "Lakewood"}),  # the same record again: a later batch, so it lands last
    ]
    before = written(empty_sandbox, hs)
    results = provider.update_many(object=LEAD, updates=updates)
    assert [result.ok for result in results] == [True, False, False, False, True, False, True]
    assert [result.record_id for result in results[:5]] == [ids[0], ids[1], gone, ids[2], ids[3]]
    assert KEY in results[1].error.field_errors
    assert isinstance(results[2].error, CrmNotFound)
    assert "hs_lead_status" in results[3].error.field_errors
    assert isinstance(results[5].error, CrmNotFound)
    assert hs.read("contacts", ids[0])["properties"]["city"] == "Boulder"
    assert hs.read("contacts", ids[1])["properties"][KEY] == "ll-1"
    assert hs.read("contacts", ids[3])["properties"]["city"] == "Lakewood"
    assert written(empty_sandbox, hs) - before == 3


def test_update_many_with_no_values_calls_nothing(provider, empty_sandbox):
    assert provider.update_many(object=LEAD, updates=[("1234", {})])[0].ok
    assert batch_calls(empty_sandbox, "update") == 0


def test_delete_record_archives_and_says_false_for_a_record_hubspot_does_not_have(hs, provider, empty_sandbox):
    record_id = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(1))[0].record_id
    assert provider.delete_record(object=LEAD, record_id=record_id) is True
    assert hs.ids("contacts") == []
    assert hs.ids("contacts", archived=True) == [record_id]  # the recycle bin
    assert provider.delete_record(object=LEAD, record_id=record_id) is False
    assert provider.delete_record(object=LEAD, record_id="999999") is False
    assert provider.delete_record(object=LEAD, record_id="not-an-id") is False
    assert written(empty_sandbox, hs) == 2  # the create and one archive


def test_a_batch_write_hubspot_keeps_failing_is_raised(provider, empty_sandbox):
    fail_writes(empty_sandbox, status=503, times=0)
    with pytest.raises(CrmUnavailable):
        provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(3))


def test_a_throttled_batch_write_waits_and_lands_once(hs, provider, empty_sandbox, sleeps):
    fail_writes(empty_sandbox, status=429, times=1)
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(3))
    assert all(result.created for result in results)
    assert sleeps.waits  # the client backed off (on the sandbox's clock)
    assert written(empty_sandbox, hs) == 3
    fail_writes(empty_sandbox, status=429, times=0)
    with pytest.raises(CrmRateLimited):
        provider.update_many(object=LEAD, updates=[(results[0].record_id, {"city": "Denver"})])


def test_typed_values_written_and_read_back_are_the_values_given(hs, hs_install, provider, empty_sandbox):
    client = provider.client
    for name, kind, field_type, options in (
        ("visit_date", "date", "date", None),
        ("last_visit_at", "datetime", "date", None),
        ("classes", "enumeration", "checkbox", ["yoga", "spin", "hiit"]),
        ("balance", "number", "number", None),
    ):
        body = {"name": name, "label": name, "type": kind, "fieldType": field_type, "groupName": "contactinformation"}
        if options:
            body["options"] = [{"label": value, "value": value} for value in options]
        client.post(client.paths.properties("contacts"), json=body, expect=(201,))
    owner = str(hs.owners()[1]["id"])
    values = {
        KEY: "ll-typed",
        "lastname": "Typed",
        "visit_date": date(2026, 3, 9),
        "last_visit_at": datetime(2026, 3, 9, 17, 45, 12, 345000, tzinfo=UTC),
        "classes": ["yoga", "hiit"],
        "balance": Decimal("12.5"),
        "leadline_sms_opt_out": True,
        "hs_lead_status": "OPEN",
        "hubspot_owner_id": owner,
    }
    record_id = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=[values])[0].record_id
    record = provider.record(object=LEAD, record_id=record_id)
    assert record.get("visit_date") == "2026-03-09"
    assert datetime.fromisoformat(record.get("last_visit_at")) == values["last_visit_at"]
    assert record.get("classes") == ["yoga", "hiit"]
    assert Decimal(str(record.get("balance"))) == Decimal("12.5")
    assert record.get("leadline_sms_opt_out") is True
    assert record.get("lead_status") == "OPEN"
    assert record.owner_id == owner
    assert record.get(KEY) == "ll-typed"

    provider.update_many(object=LEAD, updates=[(record_id, {"classes": None, "leadline_sms_opt_out": False})])
    record = provider.record(object=LEAD, record_id=record_id)
    assert record.get("classes") is None
    assert record.get("leadline_sms_opt_out") is False


def test_changed_by_us_is_not_known_from_a_record_as_read(hs, provider):
    record_id = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(1))[0].record_id
    assert provider.changed_by_us(record=provider.record(object=LEAD, record_id=record_id)) is None


def test_a_row_whose_email_another_contact_holds_is_refused_alone(hs, provider):
    hs.create("contacts", {"email": "taken@example.com", "lastname": "Holder"})
    batch = rows(6)
    batch[4]["email"] = "taken@example.com"
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=batch)
    assert [result.ok for result in results] == [True, True, True, True, False, True]
    assert "Contact already exists" in str(results[4].error)
    assert results[4].error.code == "CONFLICT"
    assert len(hs.ids("contacts")) == 6
