"""The field mapping without Zoho: kinds from metadata, typed values, and what goes to quarantine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from crm.providers.zoho.mapping import (
    CURRENCY,
    DATE,
    INTEGER,
    MULTI,
    TEXT,
    crm_record_map,
    field_kind,
    module_mapping_build,
    snake_case,
    typed_value,
)

METADATA = [
    {"api_name": "Owner", "data_type": "ownerlookup", "json_type": "jsonobject"},
    {"api_name": "Deal_Name", "data_type": "text", "json_type": "string", "display_field": True},
    {"api_name": "Amount", "data_type": "currency", "json_type": "double"},
    {"api_name": "Closing_Date", "data_type": "date", "json_type": "string"},
    {"api_name": "Modified_Time", "data_type": "datetime", "json_type": "string"},
    {
        "api_name": "Account_Name",
        "data_type": "lookup",
        "json_type": "jsonobject",
        "lookup": {"module": {"api_name": "Accounts"}},
    },
    {"api_name": "Mobile", "data_type": "phone", "json_type": "string"},
    {"api_name": "Score", "data_type": "formula", "json_type": "double", "custom_field": True},
    {"api_name": "Photo", "data_type": "imageupload", "json_type": "string"},
]


def mapping():
    return module_mapping_build(
        module="Deals", metadata=METADATA, display_fields={"Accounts": "Account_Name"}, currency_code="EUR"
    )


def test_snake_case_of_zoho_api_names():
    assert [snake_case(name) for name in ("Lead_Source", "Converted__s", "$state", "No_of_Employees")] == [
        "lead_source",
        "converted_s",
        "state",
        "no_of_employees",
    ]


def test_columns_read_every_field_and_each_lookup_name_but_no_upload_field():
    columns = mapping().columns
    assert "Owner.full_name" in columns
    assert "Account_Name.Account_Name" in columns
    assert "Photo" not in columns
    assert field_kind({"data_type": "formula", "json_type": "double"}) == "decimal"


def test_a_record_is_typed_flattened_and_normalized():
    record = {
        "id": "4150868000000000001",
        "Owner": {"id": "42"},
        "Owner.full_name": "Ana Alvarez",
        "Deal_Name": "  Annual plan ",
        "Amount": 1234.565,
        "Closing_Date": "2026-03-01",
        "Modified_Time": "2026-03-01T09:30:00-05:00",
        "Account_Name": {"id": "77"},
        "Account_Name.Account_Name": "Acme",
        "Mobile": "(415) 555-0123",
        "Score": 12.5,
        "Brand_New": "x",
        "$approval_state": "approved",
    }
    row = crm_record_map(mapping=mapping(), record=record, region="US")
    assert row.modified_time == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert (row.owner_id, row.owner_name, row.name) == ("42", "Ana Alvarez", "Annual plan")
    assert row.fields["amount"] == 1234.57
    assert row.fields["currency_code"] == "EUR"
    assert row.fields["closing_date"] == "2026-03-01"
    assert row.fields["modified_time"] == "2026-03-01T14:30:00+00:00"
    assert (row.fields["account_name_id"], row.fields["account_name_name"]) == ("77", "Acme")
    assert row.phones == {"Mobile": "+14155550123"}
    assert row.custom_fields == {"Score": 12.5, "Brand_New": "x"}
    assert "approval_state" not in row.fields
    assert row.problems == []


def test_values_that_do_not_fit_are_reported_and_left_out():
    record = {"id": "1", "Modified_Time": "2026-03-01T09:30:00+00:00", "Amount": 10**13, "Closing_Date": "soon"}
    row = crm_record_map(mapping=mapping(), record=record, region="US")
    assert {problem.field for problem in row.problems} == {"Amount", "Closing_Date"}
    assert row.fields["amount"] is None
    assert row.fields["closing_date"] is None


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (TEXT, "  padded  ", "padded"),
        (INTEGER, "9007199254740993", 9007199254740993),
        (CURRENCY, "19.999", Decimal("20.00")),
        (DATE, "2026-02-28", date(2026, 2, 28)),
        (MULTI, [" Yoga", "Spin "], ["Yoga", "Spin"]),
        (INTEGER, None, None),
    ],
)
def test_typed_values(kind, raw, expected):
    assert typed_value(kind, raw) == expected


@pytest.mark.parametrize(("kind", "raw"), [(INTEGER, "12a"), (INTEGER, True), (DATE, "2026-13-01"), (TEXT, {"a": 1})])
def test_misfits_raise_with_a_reason(kind, raw):
    with pytest.raises(ValueError, match=r"not|expected"):
        typed_value(kind, raw)
