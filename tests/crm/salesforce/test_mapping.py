"""Salesforce's mapping: describe -> field specs (phone fields PHONE, references LOOKUP/USER, compound fields left
out), a record -> CanonicalRecord (typed values, E.164 phones, owner, times), a Bulk CSV row read the same."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.providers.salesforce.mapping import csv_value, object_mapping_build, record_map
from crm.records import FieldType

DESCRIBE = {
    "name": "Lead",
    "labelPlural": "Leads",
    "fields": [
        {"name": "Id", "type": "id", "nillable": False},
        {"name": "IsDeleted", "type": "boolean"},
        {"name": "FirstName", "type": "string", "length": 40},
        {"name": "LastName", "type": "string", "length": 80, "nillable": False, "createable": True},
        {"name": "Name", "type": "string", "nameField": True},
        {"name": "Email", "type": "email"},
        {"name": "Phone", "type": "phone"},
        {"name": "MobilePhone", "type": "phone"},
        {"name": "Address", "type": "address"},
        {"name": "Status", "type": "picklist", "picklistValues": [{"value": "Open", "active": True}]},
        {"name": "OwnerId", "type": "reference", "referenceTo": ["Group", "User"], "relationshipName": "Owner"},
        {
            "name": "ConvertedContactId",
            "type": "reference",
            "referenceTo": ["Contact"],
            "relationshipName": "ConvertedContact",
        },
        {"name": "NumberOfEmployees", "type": "int"},
        {"name": "AnnualRevenue", "type": "currency"},
        {"name": "CreatedDate", "type": "datetime"},
        {"name": "SystemModstamp", "type": "datetime"},
        {"name": "Description", "type": "textarea", "length": 32000},
        {"name": "Interests__c", "type": "multipicklist", "custom": True},
        {"name": "SMS_Opt_Out__c", "type": "boolean", "custom": True, "createable": True, "updateable": True},
        {"name": "Leadline_Id__c", "type": "string", "custom": True, "externalId": True, "unique": True},
        {"name": "Days_Open__c", "type": "double", "custom": True, "calculated": True},
    ],
}


def mapping():
    return object_mapping_build(describe=DESCRIBE, object="lead", canonical_of={"Contact": "contact"}.get)


def test_describe_types_the_fields_and_leaves_compound_ones_out():
    spec = mapping().spec
    assert (spec.name, spec.vendor_name, spec.name_field, spec.modified_time_field) == (
        "lead",
        "Lead",
        "Name",
        "SystemModstamp",
    )
    assert [field.name for field in spec.phone_fields] == ["Phone", "MobilePhone"]
    assert spec.field("SMS_Opt_Out__c").type == FieldType.BOOLEAN
    assert spec.field("SMS_Opt_Out__c").key == "SMS_Opt_Out__c"
    assert spec.field("LastName").key == "last_name"
    assert spec.field("LastName").required
    assert spec.field("OwnerId").type == FieldType.USER
    assert spec.field("ConvertedContactId").type == FieldType.LOOKUP
    assert spec.field("ConvertedContactId").lookup_target == "contact"
    assert spec.field("Days_Open__c").read_only
    assert spec.field("Leadline_Id__c").unique
    assert spec.field("Status").choices == ("Open",)
    assert "Address" not in [field.name for field in spec.fields]
    assert mapping().columns[:2] == ["Id", "SystemModstamp"]
    assert "Owner.Name" in mapping().columns  # the owner's name comes with the record
    assert mapping().columns[-1] == "Description"  # long text last: a split puts it in a later query


def test_a_record_in_canonical_terms():
    row = {
        "attributes": {"type": "Lead", "url": "/services/data/v66.0/sobjects/Lead/00Q5g00000ABCDEFGH"},
        "Id": "00Q5g00000ABCDEFGH",
        "IsDeleted": False,
        "FirstName": "Ana",
        "LastName": "Lima",
        "Name": "Ana Lima",
        "Email": "ana@example.com",
        "Phone": "(415) 555-0142",
        "MobilePhone": "not a number",
        "Status": "Open",
        "OwnerId": "0055g00000USERAAAA",
        "Owner": {"attributes": {"type": "User"}, "Name": "Olga Owner"},
        "ConvertedContactId": None,
        "NumberOfEmployees": 12.0,
        "AnnualRevenue": 1500000,
        "CreatedDate": "2026-12-01T09:00:00.000+0000",
        "SystemModstamp": "2026-12-07T14:03:56.000+0000",
        "Description": "long",
        "Interests__c": "Yoga;Pilates",
        "SMS_Opt_Out__c": "yes",
        "Leadline_Id__c": None,
        "Days_Open__c": 6,
    }
    record = record_map(mapping=mapping(), row=row, region="US")
    assert (record.object, record.id, record.name, record.email, record.owner_id) == (
        "lead",
        "00Q5g00000ABCDEFGH",
        "Ana Lima",
        "ana@example.com",
        "0055g00000USERAAAA",
    )
    assert record.owner_name == "Olga Owner"
    assert record.modified_time == datetime(2026, 12, 7, 14, 3, 56, tzinfo=UTC)
    assert record.created_time == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert record.phones == {"Phone": "+14155550142"}  # the unparseable one is kept as typed, not indexed
    assert record.fields["mobile_phone"] == "not a number"
    assert record.fields["phone"] == "(415) 555-0142"
    assert record.fields["number_of_employees"] == 12
    assert record.fields["annual_revenue"] == 1500000.0
    assert record.fields["converted_contact_id"] is None
    assert "owner_id" not in record.fields
    assert "name" not in record.fields
    assert record.custom_fields["Interests__c"] == ["Yoga", "Pilates"]
    assert record.custom_fields["SMS_Opt_Out__c"] is None
    assert [(problem.field, problem.value) for problem in record.problems] == [("SMS_Opt_Out__c", "yes")]
    assert "attributes" not in record.raw


def test_a_bulk_csv_row_reads_as_the_rest_record_does():
    rest = {
        "Id": "00Q5g00000ABCDEFGH",
        "LastName": "Lima",
        "Phone": "+1 415 555 0142",
        "NumberOfEmployees": 12,
        "AnnualRevenue": 1500000.0,
        "SystemModstamp": "2026-12-07T14:03:56.000+0000",
        "SMS_Opt_Out__c": True,
        "Interests__c": None,
        "Owner": {"Name": "Olga Owner"},
    }
    types = {spec.name: spec.sf_type for spec in mapping().fields}
    cells = {
        "Id": "00Q5g00000ABCDEFGH",
        "LastName": "Lima",
        "Phone": "+1 415 555 0142",
        "NumberOfEmployees": "12",
        "AnnualRevenue": "1500000",
        "SystemModstamp": "2026-12-07T14:03:56.000Z",
        "SMS_Opt_Out__c": "true",
        "Interests__c": "",
        "Owner.Name": "Olga Owner",
    }
    types["Owner.Name"] = "string"
    csv_row = {name: csv_value(types[name], text) for name, text in cells.items()}
    from_rest, from_csv = (record_map(mapping=mapping(), row=row, region="US") for row in (rest, csv_row))
    assert from_csv == from_rest
