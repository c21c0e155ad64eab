"""The CRM-neutral values: cursors survive storage, overlap steps back, errors carry what callers act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.errors import (
    CrmAuthError,
    CrmNotFound,
    CrmQuotaExhausted,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
)
from crm.records import CanonicalRecord, Cursor, FieldSpec, FieldType, ObjectSpec, Page

MOMENT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_cursor_round_trips_as_json():
    cursor = Cursor(modified_time=MOMENT, record_id="4150868000000312001", token="t")
    assert Cursor.loads(cursor.dumps()) == cursor
    assert Cursor.loads(Cursor.start().dumps()) == Cursor.start()
    assert Cursor.loads("") == Cursor.start()


def test_a_cursor_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        Cursor(modified_time=datetime(2026, 12, 7))  # noqa: DTZ001 (the mistake under test)


def test_overlap_steps_back_and_drops_the_tie_break():
    cursor = Cursor(modified_time=MOMENT, record_id="42")
    assert cursor.overlapped(timedelta(minutes=2)) == Cursor(modified_time=MOMENT - timedelta(minutes=2))
    assert Cursor.start().overlapped(timedelta(minutes=2)) == Cursor.start()


def test_cursor_after_a_record_and_page_next_cursor():
    record = CanonicalRecord(object="lead", id="7", modified_time=MOMENT)
    after = Cursor.after(record)
    assert (after.modified_time, after.record_id) == (MOMENT, "7")
    assert Page(records=(record,), cursor=after, has_more=True).next_cursor == after
    assert Page(records=(record,), cursor=after, has_more=False).next_cursor is None


def test_record_values_by_canonical_key_or_custom_name():
    record = CanonicalRecord(
        object="lead", id="1", modified_time=MOMENT, fields={"lead_source": "Web"}, custom_fields={"SMS_Opt_Out": True}
    )
    assert record.get("lead_source") == "Web"
    assert record.get("SMS_Opt_Out") is True
    assert record.get("missing", "x") == "x"


def test_object_spec_fields_by_name_or_key():
    spec = ObjectSpec(
        name="lead",
        vendor_name="Leads",
        fields=(
            FieldSpec(name="Mobile", type=FieldType.PHONE, key="mobile"),
            FieldSpec(name="Lead_Source", type=FieldType.PICKLIST, key="lead_source"),
        ),
    )
    assert spec.field("Mobile") is spec.field("mobile")
    assert [field.name for field in spec.phone_fields] == ["Mobile"]
    assert FieldSpec(name="X", type=FieldType.TEXT).key == "X"
    with pytest.raises(KeyError, match="Leads has no field 'Nope'"):
        spec.field("Nope")


def test_errors_say_whether_to_retry_and_carry_the_vendors_words():
    assert CrmRateLimited("slow down", retry_after=3).retryable
    assert issubclass(CrmQuotaExhausted, CrmRateLimited)
    assert issubclass(CrmRateLimited, CrmUnavailable)
    assert not CrmAuthError("reconnect").retryable
    assert issubclass(CrmNotFound, CrmRejected)
    error = CrmRejected("Invalid data", provider="zoho", code="INVALID_DATA", field_errors={"Mobile": "too long"})
    assert str(error) == "zoho: Invalid data (INVALID_DATA)"
    assert error.field_errors == {"Mobile": "too long"}
    assert CrmUnavailable("down").retry_after is None
