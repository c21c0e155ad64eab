"""The emulator's `$filter` (sandbox/dynamics/filter.py) on rows of the lead table: what Dataverse matches and what
it refuses, in its words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.dynamics.filter import QueryRefused, compile_filter, matches
from sandbox.dynamics.filter_plan import compile_query
from sandbox.dynamics.seed_tables import new_tables

OWNER = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
OTHER_OWNER = "9a7b2c1d-0e4f-4a5b-8c6d-7e8f9a0b1c2d"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MOMENT = "2026-03-09T08:30:00Z"
FIRST_ID = "00000000-0000-4000-8000-000000000001"
FIRST_ID = "00000000-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def lead():
    return new_tables()["lead"]


def make(lead, **values):
    row = dict.fromkeys(lead.attributes)
    row.update(values)
    return row


@pytest.fixture(scope="module")
def rows(lead):
    return [
        make(
            lead,
            leadid="00000000-0000-4000-8000-000000000001",
            firstname="Ann",
            lastname="Lee",
            telephone1="(415) 555-0142",
            emailaddress1="ann@example.com",
            leadsourcecode=1,
            statecode=0,
            ownerid=OWNER,
            **{"ownerid@table": "systemuser"},
            lh_smsoptout=False,
            modifiedon=datetime(2026, 3, 9, 8, 30, tzinfo=UTC),
        ),
        make(
            lead,
            leadid="00000000-0000-4000-8000-000000000002",
            firstname="bob",
            lastname="O'Neil",
            telephone1="+1 415-555-0143",
            emailaddress1=None,
            leadsourcecode=2,
            statecode=1,
            ownerid=OTHER_OWNER,
            **{"ownerid@table": "systemuser"},
            lh_smsoptout=True,
            modifiedon=datetime(2026, 1, 2, 0, 0, tzinfo=UTC),
        ),
        make(
            lead,
            leadid="00000000-0000-4000-8000-000000000003",
            firstname="Cara",
            lastname="Diaz",
            telephone1=None,
            emailaddress1="",
            leadsourcecode=None,
            statecode=0,
            ownerid=OWNER,
            **{"ownerid@table": "systemuser"},
            lh_smsoptout=None,
            modifiedon=datetime(2026, 3, 9, 8, 30, tzinfo=UTC),
        ),
    ]


def found(lead, rows, text):
    predicate = compile_filter(text, lead, now=NOW)
    return [row["firstname"] for row in rows if matches(predicate, row)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("statecode eq 0", ["Ann", "Cara"]),
        ("statecode ne 0", ["bob"]),
        ("firstname eq 'BOB'", ["bob"]),  # text compares without regard to case
        ("lastname eq 'O''Neil'", ["bob"]),  # a doubled quote inside a string
        ("leadsourcecode ge 2", ["bob"]),
        ("leadsourcecode lt 2 or leadsourcecode eq null", ["Ann", "Cara"]),
        (f"_ownerid_value eq {OWNER}", ["Ann", "Cara"]),
        (f"_ownerid_value ne {OWNER}", ["bob"]),
        ("emailaddress1 eq null", ["bob", "Cara"]),  # an empty string is no value
        ("emailaddress1 ne null", ["Ann"]),
        ("lh_smsoptout eq true", ["bob"]),
        ("lh_smsoptout", ["bob"]),
        ("contains(telephone1,'0142') or contains(telephone1,'0143')", ["Ann", "bob"]),
        ("startswith(lastname,'d')", ["Cara"]),
        ("endswith(emailaddress1,'EXAMPLE.COM')", ["Ann"]),
        ("modifiedon ge 2026-03-01T00:00:00Z", ["Ann", "Cara"]),
        (f"modifiedon gt {MOMENT} or (modifiedon eq {MOMENT} and leadid gt {FIRST_ID})", ["Cara"]),  # a keyset
        ("modifiedon lt 2026-02-01", ["bob"]),  # a date literal against a datetime column: its midnight
        ("(statecode eq 0) and not (firstname eq 'Ann')", ["Cara"]),
        ("firstname in ('ann','Cara')", ["Ann", "Cara"]),
        ('Microsoft.Dynamics.CRM.In(PropertyName=\'leadsourcecode\',PropertyValues=["1","2"])', ["Ann", "bob"]),
        ("Microsoft.Dynamics.CRM.NotIn(PropertyName='firstname',PropertyValues=['Ann'])", ["bob", "Cara"]),
        ('Microsoft.Dynamics.CRM.Between(PropertyName=\'leadsourcecode\',PropertyValues=["2","5"])', ["bob"]),
        ("Microsoft.Dynamics.CRM.On(PropertyName='modifiedon',PropertyValue='2026-03-09')", ["Ann", "Cara"]),
        ("Microsoft.Dynamics.CRM.LastXDays(PropertyName='modifiedon',PropertyValue=7)", ["Ann", "Cara"]),
        ("Microsoft.Dynamics.CRM.Null(PropertyName='telephone1')", ["Cara"]),
    ],
)
def test_filters_match_what_dataverse_matches(lead, rows, text, expected):
    assert found(lead, rows, text) == expected


def test_missing_values_are_unknown_not_false(lead, rows):
    # SQL's three-valued logic: `not` of a comparison with a missing value leaves the row out.
    assert found(lead, rows, "not (telephone1 eq '(415) 555-0142')") == ["bob"]
    assert found(lead, rows, "not (leadsourcecode eq 1)") == ["bob"]
    assert found(lead, rows, "leadsourcecode ne 1") == ["bob"]


def refusal(lead, text) -> QueryRefused:
    with pytest.raises(QueryRefused) as caught:
        compile_filter(text, lead, now=NOW)
    assert caught.value.status == 400
    return caught.value


def test_an_unknown_or_misspelled_property_is_refused_in_dataverses_words(lead):
    refused = refusal(lead, "FirstName eq 'Ann'")  # names are case-sensitive
    assert refused.code == "0x80060888"
    assert refused.message == "Could not find a property named 'FirstName' on type 'Microsoft.Dynamics.CRM.lead'."
    # A lookup is filtered through its _<name>_value property, not its navigation property.
    assert "'ownerid'" in refusal(lead, f"ownerid eq {OWNER}").message
    assert "'_firstname_value'" in refusal(lead, "_firstname_value eq 'x'").message


def test_a_literal_of_the_wrong_type_is_refused(lead):
    quoted_guid = refusal(lead, f"_ownerid_value eq '{OWNER}'")
    assert quoted_guid.message == (
        "A binary operator with incompatible types was detected. Found operand types 'Edm.Guid' and 'Edm.String' "
        "for operator kind 'Equal'."
    )
    assert "'Edm.Int32' and 'Edm.String'" in refusal(lead, "statecode eq '0'").message
    assert "'Edm.DateTimeOffset' and 'Edm.Int32'" in refusal(lead, "modifiedon gt 5").message


@pytest.mark.parametrize(
    "text",
    [
        "statecode eq",  # syntax
        "statecode eq 0 and",
        "tolower(firstname) eq 'ann'",  # not a function Dataverse offers
        "leadsourcecode add 1 eq 2",  # arithmetic
        "contains(statecode,'1')",  # a text function on a number
        "Microsoft.Dynamics.CRM.Tomorrow(PropertyName='modifiedon')",
        "",
    ],
)
def test_what_dataverse_cannot_run_is_a_400(lead, text):
    assert refusal(lead, text).code == "0x80060888"


def test_filters_pinning_primary_ids_name_their_candidates(lead):
    first, second = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    assert compile_query(f"leadid eq {first} or leadid eq {second}", lead).candidates == {first, second}
    assert compile_query(f"statecode eq 0 and leadid eq {first}", lead).candidates == {first}
    assert compile_query(f"leadid eq {first} or statecode eq 0", lead).candidates is None


def test_a_keyset_filter_bounds_its_first_column(lead):
    modified = lead.attribute("modifiedon")
    keyset = compile_query(f"modifiedon gt {MOMENT} or (modifiedon eq {MOMENT} and leadid gt {FIRST_ID})", lead)
    assert keyset.lower_bound(modified) == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
    both = compile_query(f"modifiedon ge 2026-01-01T00:00:00Z and modifiedon ge {MOMENT}", lead)
    assert both.lower_bound(modified) == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)
    assert compile_query(f"modifiedon gt {MOMENT} or statecode eq 0", lead).lower_bound(modified) is None
    assert compile_query(f"modifiedon lt {MOMENT}", lead).lower_bound(modified) is None
