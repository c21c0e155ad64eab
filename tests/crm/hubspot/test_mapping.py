"""HubSpot's schema and mapping without the emulator: property definitions -> field specs (phone properties PHONE by
fieldType or by name, booleancheckbox BOOLEAN, enumerations with their choices, the owner USER, read-only and unique
from the definition), a record -> CanonicalRecord (text values typed, E.164 phones, owner, times, associations
flattened, custom properties apart), and the phone formats a lookup searches for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.providers.hubspot.mapping import epoch_ms, flat, parse_datetime, record_map, value_convert
from crm.providers.hubspot.reads import phone_variants
from crm.providers.hubspot.schema import schema_build
from crm.records import FieldType


def prop(name, type_="string", field_type="text", **extra):
    return {"name": name, "type": type_, "fieldType": field_type, "hubspotDefined": True, "label": name, **extra}


CONTACT_PROPERTIES = [
    prop("hs_object_id", "number", "number", modificationMetadata={"readOnlyValue": True}, hasUniqueValue=True),
    prop("firstname"),
    prop("lastname"),
    prop("email"),
    prop("phone", field_type="phonenumber"),
    prop("mobilephone"),  # a phone property by name even where its definition says text
    prop("fax"),
    prop("hubspot_owner_id", "enumeration", "select", referencedObjectType="OWNER"),
    prop(
        "lifecyclestage",
        "enumeration",
        "radio",
        options=[
            {"label": "Lead", "value": "lead"},
            {"label": "Customer", "value": "customer"},
            {"label": "Old", "value": "old", "hidden": True},
        ],
    ),
    prop("createdate", "datetime", "date", modificationMetadata={"readOnlyValue": True}),
    prop("lastmodifieddate", "datetime", "date", modificationMetadata={"readOnlyValue": True}),
    prop("num_notes", "number", "number", calculated=True),
    prop("associatedcompanyid", "number", "number"),
    prop("hs_birthday", "date", "date"),
    {**prop("leadline_sms_opt_out", "bool", "booleancheckbox"), "hubspotDefined": False},
    {**prop("interests", "enumeration", "checkbox", options=[{"value": "yoga"}, {"value": "spin"}])},
    {**prop("gym_member_id", "string", "text", hasUniqueValue=True), "hubspotDefined": False},
    {**prop("gym_backup_phone", "string", "phonenumber"), "hubspotDefined": False},
    {**prop("gone", "string", "text"), "archived": True},
]


def contact_schema():
    return schema_build(object="lead", object_type="contacts", definitions=CONTACT_PROPERTIES)


def test_properties_are_typed_as_field_specs():
    spec = contact_schema().spec
    assert (spec.name, spec.vendor_name, spec.modified_time_field, spec.name_field) == (
        "lead",
        "contacts",
        "lastmodifieddate",
        "lastname",
    )
    assert [field.name for field in spec.phone_fields] == ["phone", "mobilephone", "gym_backup_phone"]
    assert spec.field("fax").type == FieldType.TEXT
    assert spec.field("leadline_sms_opt_out").type == FieldType.BOOLEAN
    assert spec.field("leadline_sms_opt_out").custom
    assert spec.field("lastname").type == FieldType.TEXT
    assert spec.field("last_name").name == "lastname"  # the product reads it as last_name
    assert spec.field("hubspot_owner_id").type == FieldType.USER
    stage = spec.field("lifecyclestage")
    assert (stage.type, stage.choices, stage.key) == (FieldType.PICKLIST, ("lead", "customer"), "lifecycle_stage")
    assert spec.field("interests").type == FieldType.MULTI_PICKLIST
    assert spec.field("createdate").type == FieldType.DATETIME
    assert spec.field("hs_birthday").type == FieldType.DATE
    assert spec.field("num_notes").type == FieldType.DECIMAL
    assert spec.field("associatedcompanyid").type == FieldType.NUMBER
    assert spec.field("num_notes").read_only
    assert spec.field("lastmodifieddate").read_only
    assert not spec.field("firstname").read_only
    assert spec.field("gym_member_id").unique
    assert not spec.field("email").unique
    assert spec.field("email").type == FieldType.EMAIL
    assert spec.field("company").lookup_target == "account"  # the contact's company, from its associations
    with pytest.raises(KeyError):
        spec.field("gone")  # archived properties are left out
    with pytest.raises(KeyError):
        spec.field("hs_object_id")  # the record's id, not a field


def test_every_property_is_read_and_the_modified_property_is_per_object():
    schema = contact_schema()
    assert "gone" not in schema.properties
    assert {"hs_object_id", "lastmodifieddate", "leadline_sms_opt_out"} <= set(schema.properties)
    companies = schema_build(object="account", object_type="companies", definitions=[prop("name")])
    assert companies.modified_property == "hs_lastmodifieddate"
    assert companies.spec.name_field == "name"


RECORD = {
    "id": "501",
    "properties": {
        "hs_object_id": "501",
        "firstname": "Ana",
        "lastname": "Lima",
        "email": "ana@example.com",
        "phone": "(415) 555-0142",
        "mobilephone": "not a number",
        "hubspot_owner_id": "77",
        "lifecyclestage": "lead",
        "createdate": "2026-11-01T10:00:00Z",
        "lastmodifieddate": "2026-12-07T14:03:56.123Z",
        "num_notes": "3",
        "associatedcompanyid": "9001",
        "hs_birthday": "1990-05-04",
        "leadline_sms_opt_out": "true",
        "interests": "yoga;spin",
        "gym_member_id": "",
        "gym_backup_phone": "+1 415 555 0143",
        "brand_new": "kept as sent",
        "fax": None,
    },
    "createdAt": "2026-11-01T10:00:00Z",
    "updatedAt": "2026-12-07T14:03:56.123Z",
    "archived": False,
    "associations": {"companies": ["9001"]},
}


def test_a_record_in_canonical_terms():
    record = record_map(schema=contact_schema(), record=RECORD, region="US")
    assert (record.object, record.id, record.name, record.email, record.owner_id) == (
        "lead",
        "501",
        "Ana Lima",
        "ana@example.com",
        "77",
    )
    assert record.modified_time == datetime(2026, 12, 7, 14, 3, 56, 123000, tzinfo=UTC)
    assert record.created_time == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert record.phones == {"phone": "+14155550142", "gym_backup_phone": "+14155550143"}
    assert record.get("first_name") == "Ana"
    assert record.get("last_name") == "Lima"
    assert record.get("lifecycle_stage") == "lead"
    assert record.get("mobile_phone") == "not a number"  # kept as typed, not a phone
    assert record.get("num_notes") == 3.0
    assert record.get("associatedcompanyid") == 9001
    assert isinstance(record.get("associatedcompanyid"), int)
    assert record.get("hs_birthday") == "1990-05-04"
    assert record.get("leadline_sms_opt_out") is True
    assert record.custom_fields["leadline_sms_opt_out"] is True
    assert record.get("interests") == ["yoga", "spin"]
    assert record.custom_fields["gym_member_id"] is None  # "" is no value
    assert record.custom_fields["brand_new"] == "kept as sent"  # created since the schema was read
    assert record.fields["company_id"] == "9001"
    assert "hubspot_owner_id" not in record.fields  # a column: owner_id
    assert "owner_id" not in record.fields
    assert record.raw["lastname"] == "Lima"
    assert record.raw["id"] == "501"
    assert not record.problems


def test_a_value_that_does_not_fit_is_left_out_and_reported():
    broken = {**RECORD, "properties": {**RECORD["properties"], "num_notes": "many", "leadline_sms_opt_out": "yes"}}
    record = record_map(schema=contact_schema(), record=broken, region="US")
    assert record.get("num_notes") is None
    assert record.get("leadline_sms_opt_out") is None
    assert sorted(problem.field for problem in record.problems) == ["leadline_sms_opt_out", "num_notes"]


def test_a_flat_record_maps_as_the_api_shape_does():
    schema = contact_schema()
    assert record_map(schema=schema, record=flat(RECORD), region="US") == record_map(
        schema=schema, record=RECORD, region="US"
    )


def test_a_deal_flattens_its_contacts_and_companies():
    schema = schema_build(
        object="deal",
        object_type="deals",
        definitions=[prop("dealname"), prop("hs_lastmodifieddate", "datetime", "date"), prop("amount", "number")],
    )
    deal = {
        "id": "7",
        "properties": {"dealname": "Annual plan", "hs_lastmodifieddate": "1765116236123", "amount": "1200.50"},
        "associations": {"contacts": ["12", "3"], "companies": []},
    }
    record = record_map(schema=schema, record=deal, region="US")
    assert record.name == "Annual plan"
    assert record.fields["contact_ids"] == ["3", "12"]
    assert record.fields["company_ids"] == []
    assert record.get("amount") == 1200.5
    assert record.modified_time == datetime.fromtimestamp(1765116236.123, tz=UTC)
    assert schema.spec.field("contact_ids").type == FieldType.JSON


def test_datetimes_and_epoch_milliseconds():
    moment = parse_datetime("2026-12-07T14:03:56.123Z")
    assert parse_datetime(str(epoch_ms(moment))) == moment
    assert epoch_ms(datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=UTC)) == 1000
    assert value_convert(FieldType.DATETIME, str(epoch_ms(moment))) == moment.isoformat()
    assert value_convert(FieldType.DATE, str(epoch_ms(datetime(2026, 5, 4, tzinfo=UTC)))) == "2026-05-04"
    with pytest.raises(ValueError, match="not a datetime"):
        parse_datetime("yesterday")


def test_phone_variants_cover_the_formats_people_type():
    variants = phone_variants("+14155550142")
    for typed in ("+14155550142", "4155550142", "(415) 555-0142", "415-555-0142", "415.555.0142", "+1 415-555-0142"):
        assert typed in variants
    assert len(variants) == len(set(variants))
    assert "+44 20 7946 0018" in phone_variants("+442079460018")


def test_a_contacts_company_comes_from_its_associatedcompanyid_when_no_associations_were_read():
    schema = contact_schema()
    bare = {key: value for key, value in RECORD.items() if key != "associations"}
    assert record_map(schema=schema, record=bare, region="US").fields["company_id"] == "9001"
    for held, expected in (("9001.0", "9001"), ("", None), (None, None)):
        row = {**bare, "properties": {**bare["properties"], "associatedcompanyid": held}}
        assert record_map(schema=schema, record=row, region="US").fields["company_id"] == expected, held
    without = {**bare, "properties": {k: v for k, v in bare["properties"].items() if k != "associatedcompanyid"}}
    assert "company_id" not in record_map(schema=schema, record=without, region="US").fields  # not read: kept


def test_companies_read_by_calls_name_the_primary_one_when_the_record_does():
    schema = contact_schema()
    listed = {**RECORD, "associations": {"companies": [{"toObjectId": 9005}, "9003", "9001"]}}
    assert record_map(schema=schema, record=listed, region="US").fields["company_id"] == "9001"  # associatedcompanyid
    stale = {**listed, "properties": {**RECORD["properties"], "associatedcompanyid": "8000"}}
    assert record_map(schema=schema, record=stale, region="US").fields["company_id"] == "9001"  # first by id
    none = {**RECORD, "associations": {"companies": []}}
    assert record_map(schema=schema, record=none, region="US").fields["company_id"] is None


def test_converters_keep_their_answers_and_still_refuse_what_does_not_fit():
    for _ in range(2):  # the second time from the converters' memory
        assert value_convert(FieldType.DATETIME, "2026-12-07T14:03:56.123Z") == "2026-12-07T14:03:56.123000+00:00"
        assert value_convert(FieldType.DATE, "2026-05-04") == "2026-05-04"
        assert value_convert(FieldType.NUMBER, "0042") == 42
        assert value_convert(FieldType.BOOLEAN, " TRUE ") is True
        for field_type, bad in ((FieldType.DATETIME, "soon"), (FieldType.DATE, "May"), (FieldType.NUMBER, "²")):
            with pytest.raises(ValueError, match="not a"):
                value_convert(field_type, bad)
    assert parse_datetime("2026-12-07T14:03:56+02:00") == datetime(2026, 12, 7, 12, 3, 56, tzinfo=UTC)
    assert parse_datetime("2026-12-07T14:03:56+02:00").tzinfo is UTC
