"""SOQL text: literals escaped, ids validated, the keyset of a delta page, field lists split by the URI budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm.providers.salesforce import soql


def test_string_literals_escape_quotes_backslashes_and_control_characters():
    assert soql.string("O'Brien") == r"'O\'Brien'"
    assert soql.string("back\\slash") == r"'back\\slash'"
    assert soql.string("a\\' OR Id != null") == r"'a\\\' OR Id != null'"
    assert soql.string('line\nbreak\t"q"') == r"'line\nbreak\t\"q\"'"


@pytest.mark.parametrize("value", ["00Q5g00000ABCDE", "00Q5g00000ABCDEEA5", "001000000000001AAA"])
def test_ids_of_15_characters_or_18_with_their_checksum_are_accepted(value):
    assert soql.id_literal(value) == f"'{value}'"


@pytest.mark.parametrize(
    "value",
    ["", "00Q5g00000ABCD", "00Q5g00000ABCDE' OR Id != '", "00Q5g00000ABCDEEA51", "00Q5g00000ABCDEAAA", None],
)
def test_anything_else_is_no_id(value):
    with pytest.raises(ValueError, match="record id"):
        soql.id_literal(value)


def test_names_come_from_describe_and_nothing_else_passes():
    assert soql.name("SMS_Opt_Out__c") == "SMS_Opt_Out__c"
    assert soql.name("Owner.Name") == "Owner.Name"
    for bad in ("Id FROM User", "Name,Id", "1Field", ""):
        with pytest.raises(ValueError, match="API name"):
            soql.name(bad)


def test_datetimes_are_utc_literals_with_milliseconds_only_when_there_are_some():
    moment = datetime(2026, 12, 7, 15, 3, 56, tzinfo=timezone(timedelta(hours=1)))
    assert soql.datetime_literal(moment) == "2026-12-07T14:03:56Z"
    assert soql.datetime_literal(moment.replace(microsecond=250_000)) == "2026-12-07T14:03:56.250Z"
    with pytest.raises(ValueError, match="timezone"):
        soql.datetime_literal(datetime(2026, 12, 7))  # noqa: DTZ001


def test_the_keyset_breaks_ties_by_id():
    moment = datetime(2026, 12, 7, 14, 3, 56, tzinfo=UTC)
    assert soql.keyset_after(None) == ""
    assert soql.keyset_after(moment) == "SystemModstamp >= 2026-12-07T14:03:56Z"
    assert soql.keyset_after(moment, "00Q5g00000ABCDEEA5") == (
        "(SystemModstamp > 2026-12-07T14:03:56Z OR "
        "(SystemModstamp = 2026-12-07T14:03:56Z AND Id > '00Q5g00000ABCDEEA5'))"
    )
    query = soql.select(
        ["Id", "SystemModstamp"], "Lead", where=soql.keyset_after(moment), order_by="SystemModstamp, Id", limit=200
    )
    assert (
        query == "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2026-12-07T14:03:56Z "
        "ORDER BY SystemModstamp, Id LIMIT 200"
    )


def test_field_lists_are_split_under_the_budget_in_order():
    fields = [f"Custom_Field_{index:03d}__c" for index in range(300)]
    chunks = soql.field_chunks(fields, budget=500)
    assert [field for chunk in chunks for field in chunk] == fields
    assert all(soql.fields_bytes(chunk) <= 500 for chunk in chunks)
    assert len(chunks) > 1
    assert soql.field_chunks(fields[:3], budget=10_000) == [fields[:3]]
    assert soql.ids_per_query(budget=soql.ids_bytes(7) + 3) == 7
