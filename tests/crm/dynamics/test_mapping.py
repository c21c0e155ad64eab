"""Dataverse's metadata and rows without the emulator: attribute definitions -> field specs (FormatName Phone columns
PHONE, option sets with their values, lookups with their target, the owner USER, custom lh_ columns, required and
read-only from the definition, shadow columns left out), a row -> CanonicalRecord (lookups and option sets as
id/value and name/label fields, owner, E.164 phones in mixed formats, times, custom columns apart, problems)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.providers.dynamics.mapping import odata_datetime, parse_datetime, record_map, value_convert
from crm.providers.dynamics.reads import guid
from crm.providers.dynamics.schema import options_by_column, schema_build
from crm.records import FieldType

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
OWNER = "5d1c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
ACCOUNT = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
LEAD = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def attribute(name, kind="String", fmt="Text", **extra):
    return {
        "LogicalName": name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": f"{kind}Type"},
        "FormatName": {"Value": fmt} if fmt else None,
        "RequiredLevel": {"Value": extra.pop("required", "None")},
        "IsCustomAttribute": extra.pop("custom", False),
        "DisplayName": {"UserLocalizedLabel": {"Label": extra.pop("label", name.title())}},
        **extra,
    }


LEAD_DEFINITION = {
    "LogicalName": "lead",
    "EntitySetName": "leads",
    "PrimaryIdAttribute": "leadid",
    "PrimaryNameAttribute": "fullname",
    "ChangeTrackingEnabled": True,
    "DisplayName": {"UserLocalizedLabel": {"Label": "Lead"}},
}
LEAD_ATTRIBUTES = [
    attribute("leadid", "Uniqueidentifier", None),
    attribute("firstname"),
    attribute("lastname", required="ApplicationRequired"),
    attribute("fullname", IsValidForCreate=False, IsValidForUpdate=False),
    attribute("emailaddress1", fmt="Email"),
    attribute("telephone1", fmt="Phone"),
    attribute("mobilephone", fmt="Phone"),
    attribute("websiteurl", fmt="Url"),
    attribute("leadsourcecode", "Picklist", None),
    attribute("statecode", "State", None),
    attribute("statuscode", "Status", None),
    attribute("ownerid", "Owner", None, Targets=["systemuser", "team"]),
    attribute("owneridtype", "EntityName", None),
    attribute("parentaccountid", "Lookup", None, Targets=["account"]),
    attribute("parentaccountidname", "String", AttributeOf="parentaccountid"),
    attribute("createdon", "DateTime", "DateAndTime", IsValidForCreate=False, IsValidForUpdate=False),
    attribute("modifiedon", "DateTime", "DateAndTime", IsValidForCreate=False, IsValidForUpdate=False),
    attribute("estimatedclosedate", "DateTime", "DateOnly"),
    attribute("estimatedamount", "Money", None),
    attribute("numberofemployees", "Integer", None),
    attribute("donotphone", "Boolean", None),
    attribute("lh_smsoptout", "Boolean", None, custom=True),
    attribute("lh_studio", custom=True),
    attribute("lh_homegymid", "Lookup", None, custom=True, Targets=["account"]),
]
LEAD_OPTIONS = [
    {
        "LogicalName": "leadsourcecode",
        "OptionSet": {
            "Options": [
                {"Value": 1, "Label": {"UserLocalizedLabel": {"Label": "Advertisement"}}},
                {"Value": 8, "Label": {"UserLocalizedLabel": {"Label": "Web"}}},
            ]
        },
    }
]


def lead_schema():
    return schema_build(
        object="lead",
        definition=LEAD_DEFINITION,
        attributes=LEAD_ATTRIBUTES,
        options=options_by_column(LEAD_OPTIONS),
    )


def lead_row(**overrides):
    row = {
        "@odata.etag": 'W/"1001"',
        "leadid": LEAD.upper(),
        "firstname": "Maya",
        "lastname": "Lopez",
        "fullname": "Maya Lopez",
        "emailaddress1": "maya@example.com",
        "telephone1": "(415) 555-0142",
        "mobilephone": "+44 20 7946 0958",
        "websiteurl": None,
        "leadsourcecode": 8,
        f"leadsourcecode{FORMATTED}": "Web",
        "statecode": 0,
        f"statecode{FORMATTED}": "Open",
        "_ownerid_value": OWNER,
        f"_ownerid_value{FORMATTED}": "Dana Whitfield",
        "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "systemuser",
        "_parentaccountid_value": ACCOUNT,
        f"_parentaccountid_value{FORMATTED}": "Harbor Fitness Downtown",
        "createdon": "2026-12-01T09:00:00Z",
        "modifiedon": "2026-12-07T14:03:56Z",
        "estimatedclosedate": "2027-01-15",
        "estimatedamount": 1200.5,
        "numberofemployees": 12,
        "donotphone": False,
        "lh_smsoptout": True,
        "lh_studio": "Downtown",
        "_lh_homegymid_value": None,
        "versionnumber": 1001,
    }
    row.update(overrides)
    return row


def test_attributes_are_typed_as_field_specs():
    schema = lead_schema()
    spec = schema.spec
    assert (spec.name, spec.vendor_name, spec.label, spec.name_field, spec.modified_time_field) == (
        "lead",
        "lead",
        "Lead",
        "fullname",
        "modifiedon",
    )
    assert (schema.entity_set, schema.primary_id, schema.change_tracking) == ("leads", "leadid", True)
    types = {field.name: field.type for field in spec.fields}
    assert types["telephone1"] == types["mobilephone"] == FieldType.PHONE
    assert [field.name for field in spec.phone_fields] == ["telephone1", "mobilephone"]
    assert types["emailaddress1"] == FieldType.EMAIL
    assert types["websiteurl"] == FieldType.URL
    assert types["leadsourcecode"] == types["statecode"] == FieldType.PICKLIST
    assert types["ownerid"] == FieldType.USER
    assert types["parentaccountid"] == FieldType.LOOKUP
    assert types["modifiedon"] == FieldType.DATETIME
    assert types["estimatedclosedate"] == FieldType.DATE
    assert types["estimatedamount"] == FieldType.CURRENCY
    assert types["numberofemployees"] == FieldType.NUMBER
    assert types["lh_smsoptout"] == types["donotphone"] == FieldType.BOOLEAN
    # the primary id, EntityName and shadow (AttributeOf) columns are not fields
    assert not {"leadid", "owneridtype", "parentaccountidname"} & set(types)
    assert spec.field("parentaccountid").lookup_target == "account"
    assert spec.field("leadsourcecode").choices == ("1", "8")
    assert spec.field("leadsourcecode").choice_labels == ("Advertisement", "Web")  # a person's word for each
    assert spec.field("lastname").required
    assert not spec.field("firstname").required
    assert spec.field("fullname").read_only
    assert not spec.field("lastname").read_only
    assert spec.field("lh_smsoptout").custom
    assert spec.field("lh_smsoptout").key == "lh_smsoptout"
    assert spec.field("firstname").key == "first_name"
    assert spec.field("telephone1").label == "Telephone1"


def test_select_names_lookups_by_their_value_columns():
    select = lead_schema().select
    assert select[0] == "leadid"
    assert "_ownerid_value" in select
    assert "_parentaccountid_value" in select
    assert "_lh_homegymid_value" in select
    assert "ownerid" not in select
    assert "owneridtype" not in select
    assert "parentaccountidname" not in select
    assert lead_schema().column("parentaccountid") == "_parentaccountid_value"
    assert lead_schema().column("telephone1") == "telephone1"


def test_a_row_in_canonical_terms():
    record = record_map(schema=lead_schema(), record=lead_row(), region="US")
    assert (record.object, record.id, record.name, record.email) == ("lead", LEAD, "Maya Lopez", "maya@example.com")
    assert record.modified_time == datetime(2026, 12, 7, 14, 3, 56, tzinfo=UTC)
    assert record.created_time == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert (record.owner_id, record.owner_name) == (OWNER, "Dana Whitfield")
    assert record.phones == {"telephone1": "+14155550142", "mobilephone": "+442079460958"}
    assert record.fields["telephone1"] == "(415) 555-0142"  # as the person typed it
    assert (record.fields["parentaccountid"], record.fields["parentaccountid_name"]) == (
        ACCOUNT,
        "Harbor Fitness Downtown",
    )
    assert (record.fields["leadsourcecode"], record.fields["leadsourcecode_label"]) == ("8", "Web")
    assert (record.fields["statecode"], record.fields["statecode_label"]) == ("0", "Open")
    assert record.fields["estimatedclosedate"] == "2027-01-15"
    assert record.fields["estimatedamount"] == 1200.5
    assert record.fields["numberofemployees"] == 12
    assert record.fields["donotphone"] is False
    assert record.get("first_name") == "Maya"
    assert record.custom_fields["lh_smsoptout"] is True
    assert record.custom_fields["lh_studio"] == "Downtown"
    assert record.custom_fields["lh_homegymid"] is None
    assert record.get("lh_smsoptout") is True
    assert "ownerid" not in record.fields
    assert "emailaddress1" not in record.fields
    assert not any("@" in key for key in record.fields)
    assert record.raw["lastname"] == "Lopez"
    assert record.problems == ()


def test_a_leads_status_reason_is_its_lead_status():
    row = lead_row(statuscode=2, **{f"statuscode{FORMATTED}": "Contacted"})
    record = record_map(schema=lead_schema(), record=row, region="US")
    assert (record.fields["statuscode"], record.fields["statuscode_label"]) == ("2", "Contacted")
    assert record.get("lead_status") == "Contacted"  # what the widget's card shows


def test_option_labels_come_from_metadata_without_annotations_and_new_columns_are_kept():
    row = {key: value for key, value in lead_row().items() if "@" not in key}
    row["lh_newcolumn"] = "added since the schema was read"
    row["_lh_newlookup_value"] = ACCOUNT
    record = record_map(schema=lead_schema(), record=row, region="US")
    assert record.fields["leadsourcecode_label"] == "Web"
    assert record.fields["parentaccountid_name"] is None
    assert record.owner_name == ""
    assert record.custom_fields["lh_newcolumn"] == "added since the schema was read"
    assert record.custom_fields["lh_newlookup"] == ACCOUNT


def test_values_that_do_not_fit_are_problems_not_failures():
    row = lead_row(numberofemployees="a dozen", telephone1="call the front desk", lh_smsoptout="maybe")
    record = record_map(schema=lead_schema(), record=row, region="US")
    assert record.fields["numberofemployees"] is None
    assert record.custom_fields["lh_smsoptout"] is None
    assert {problem.field for problem in record.problems} == {"numberofemployees", "lh_smsoptout"}
    assert "telephone1" not in record.phones  # kept as typed, not indexed
    assert record.fields["telephone1"] == "call the front desk"


def test_a_row_without_a_name_column_is_named_by_its_parts():
    record = record_map(schema=lead_schema(), record=lead_row(fullname=None, firstname=None), region="US")
    assert record.name == "Lopez"


def test_a_row_without_modifiedon_is_refused():
    with pytest.raises(ValueError, match="no modifiedon"):
        record_map(schema=lead_schema(), record=lead_row(modifiedon=None), region="US")


@pytest.mark.parametrize(
    ("field_type", "raw", "expected"),
    [
        (FieldType.BOOLEAN, True, True),
        (FieldType.NUMBER, 7, 7),
        (FieldType.NUMBER, "7", 7),
        (FieldType.DECIMAL, 2.5, 2.5),
        (FieldType.DATETIME, "2026-12-07T14:03:56Z", "2026-12-07T14:03:56+00:00"),
        (FieldType.DATE, "2026-12-07", "2026-12-07"),
        (FieldType.MULTI_PICKLIST, "1,3", ["1", "3"]),
        (FieldType.LOOKUP, ACCOUNT.upper(), ACCOUNT),
        (FieldType.TEXT, "", None),
        (FieldType.TEXT, None, None),
    ],
)
def test_values_are_converted_by_type(field_type, raw, expected):
    assert value_convert(field_type, raw) == expected


def test_datetimes_and_guids():
    moment = parse_datetime("2026-12-07T14:03:56Z")
    assert moment == datetime(2026, 12, 7, 14, 3, 56, tzinfo=UTC)
    assert odata_datetime(moment) == "2026-12-07T14:03:56Z"
    assert odata_datetime(moment.replace(microsecond=250000)) == "2026-12-07T14:03:56.250000Z"
    assert guid("{" + LEAD.upper() + "}") == LEAD
    assert guid("not a guid") == ""
    assert guid(None) == ""
