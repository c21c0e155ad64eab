"""HubSpot's reads against the emulator over real HTTP: the schema from the properties API, records by id in batches
(archived and unknown ids left out), associations flattened (contact -> company, deal -> contacts and companies),
phone lookup across every phone property whatever the format typed, archived records as deletions, every id by list
paging, the identity as the installing user's owner id, leads by lifecycle stage, record links, and the legacy
path family."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from crm.errors import CrmNotFound
from crm.records import Cursor, FieldType
from tests.crm.harness_hubspot import sandbox_advance, sandbox_now

LEAD = "lead"


def api(server, install, method, path, **kwargs):
    """HubSpot's own API with the install's token (what a person's other tools would do)."""
    headers = {"Authorization": f"Bearer {install['access_token']}"}
    response = requests.request(method, f"{server.url}/hubspot{path}", headers=headers, timeout=30, **kwargs)
    assert response.status_code < 400, response.text[:2000]
    return response.json() if response.content else None


def test_the_schema_comes_from_the_properties_api(provider):
    spec = provider.object_spec(object=LEAD)
    assert (spec.name, spec.vendor_name, spec.modified_time_field) == (LEAD, "contacts", "lastmodifieddate")
    assert {"phone", "mobilephone"} <= {field.name for field in spec.phone_fields}
    opt_out = spec.field(provider.opt_out_field)
    assert (opt_out.type, opt_out.custom) == (FieldType.BOOLEAN, True)
    assert spec.field("hubspot_owner_id").type == FieldType.USER
    stage = spec.field("lifecyclestage")
    assert stage.type == FieldType.PICKLIST
    assert {"subscriber", "lead", "customer"} <= set(stage.choices)
    assert spec.field("lastmodifieddate").read_only
    assert not spec.field("lastname").read_only
    assert provider.object_spec(object="contact").name == "contact"
    account = provider.object_spec(object="account")
    assert (account.vendor_name, account.modified_time_field) == ("companies", "hs_lastmodifieddate")
    assert [spec.name for spec in provider.objects()][:2] == ["lead", "contact"]


def test_a_property_created_in_hubspot_is_read_typed(empty_sandbox, hs, hs_install, provider):
    definition = {
        "name": "gym_backup_phone",
        "label": "Backup phone",
        "type": "string",
        "fieldType": "phonenumber",
        "groupName": "contactinformation",
    }
    api(empty_sandbox, hs_install, "POST", "/crm/v3/properties/contacts", json=definition)
    record_id = hs.create("contacts", {"lastname": "Backup", "gym_backup_phone": "415.555.0143"})["id"]
    record = provider.record(object=LEAD, record_id=record_id)
    assert record.phones == {"gym_backup_phone": "+14155550143"}
    assert record.custom_fields["gym_backup_phone"] == "415.555.0143"
    found = provider.records_by_phone(object=LEAD, phone="+14155550143")
    assert [item.id for item in found] == [record_id]


def test_records_by_id_in_batches_leave_out_the_archived_and_unknown(hs, provider):
    ids = hs.seed(150)
    hs.archive("contacts", ids[3])
    wanted = [*ids, ids[0], "999999999", "not-an-id"]
    found = provider.records(object=LEAD, record_ids=wanted)
    assert sorted(record.id for record in found) == sorted(set(ids) - {ids[3]})
    one = provider.record(object=LEAD, record_id=ids[5])
    twin = next(record for record in found if record.id == ids[5])
    assert (one.name, dict(one.phones), one.owner_id, one.modified_time, dict(one.fields)) == (
        twin.name,
        dict(twin.phones),
        twin.owner_id,
        twin.modified_time,
        dict(twin.fields),
    )
    with pytest.raises(CrmNotFound):
        provider.record(object=LEAD, record_id=ids[3])
    with pytest.raises(CrmNotFound):
        provider.record(object=LEAD, record_id="not-an-id")


def test_a_record_reads_as_the_emulator_holds_it(hs, provider):
    (record_id,) = hs.seed(1)
    held = hs.read("contacts", record_id)
    record = provider.record(object=LEAD, record_id=record_id)
    properties = held["properties"]
    assert record.name == " ".join(filter(None, [properties.get("firstname"), properties.get("lastname")]))
    assert record.email == (properties.get("email") or "")
    assert record.owner_id == (properties.get("hubspot_owner_id") or "")
    owner = next(owner for owner in hs.owners() if str(owner["id"]) == record.owner_id)
    assert record.owner_name == f"{owner['firstName']} {owner['lastName']}"
    assert record.get("lifecycle_stage") == properties.get("lifecyclestage")
    assert record.raw["lastname"] == properties.get("lastname")
    assert provider.to_canonical(object=LEAD, record=held).modified_time == record.modified_time


def test_associations_are_flattened(hs, provider):
    hs.seed(3, object_type="companies")
    contacts = hs.seed(12, with_companies=True)
    hs.seed(4, object_type="deals")
    for record in provider.records(object=LEAD, record_ids=contacts):
        companies = hs.associated("contacts", record.id, "companies")
        assert record.fields["company_id"] == (min(companies, key=int) if companies else None), record.id
    assert any(record.fields["company_id"] for record in provider.records(object=LEAD, record_ids=contacts))
    page = provider.changed_since(object="deal", cursor=Cursor.start())
    assert page.records
    for deal in page.records:
        assert deal.fields["contact_ids"] == sorted(hs.associated("deals", deal.id, "contacts"), key=int)
        assert deal.fields["company_ids"] == sorted(hs.associated("deals", deal.id, "companies"), key=int)


def test_phone_lookup_searches_every_phone_property_in_the_formats_people_type(hs, provider):
    typed = {
        "(415) 555-0142": "phone",
        "415.555.0142": "mobilephone",
        "+1 415-555-0142": "phone",
        "4155550142": "mobilephone",
    }
    wanted = [
        hs.create("contacts", {"lastname": f"Typed {n}", prop: value})["id"]
        for n, (value, prop) in enumerate(typed.items())
    ]
    other = hs.create("contacts", {"lastname": "Other", "phone": "(415) 555-0199"})["id"]
    gone = hs.create("contacts", {"lastname": "Gone", "phone": "+14155550142"})["id"]
    hs.archive("contacts", gone)
    found = provider.records_by_phone(object=LEAD, phone="+14155550142")
    assert [record.id for record in found] == wanted
    assert all("+14155550142" in record.phones.values() for record in found)
    assert other not in [record.id for record in provider.records_by_phone(object=LEAD, phone="+14155550142")]
    assert provider.records_by_phone(object=LEAD, phone="+14155550100") == []
    with pytest.raises(ValueError, match=r"E\.164"):
        provider.records_by_phone(object=LEAD, phone="not a number")


def test_archived_records_are_the_deletions_since_a_moment(empty_sandbox, hs, provider):
    ids = hs.seed(5)
    hs.archive("contacts", ids[0])
    sandbox_advance(empty_sandbox, 30)
    since = sandbox_now(empty_sandbox)
    sandbox_advance(empty_sandbox, 1)
    hs.archive("contacts", ids[1])
    later = list(provider.deleted_since(object=LEAD, since=since))
    assert [entry.id for entry in later] == [ids[1]]
    assert later[0].deleted_at > since
    assert sorted(entry.id for entry in provider.deleted_since(object=LEAD, since=None)) == sorted(ids[:2])
    assert list(provider.deleted_since(object=LEAD, since=since + timedelta(minutes=5))) == []


def test_every_id_by_list_paging(hs, provider):
    ids = hs.seed(230)
    hs.archive("contacts", ids[7])
    assert sorted(provider.all_ids(object=LEAD), key=int) == [record_id for record_id in ids if record_id != ids[7]]


def test_identity_is_the_portal_and_the_installing_users_owner_id(hs, hs_install, provider):
    identity = provider.identity()
    owner = next(owner for owner in hs.owners() if str(owner["userId"]) == str(hs_install["user_id"]))
    assert (identity.org_id, identity.user_id, identity.user_email) == (hs.portal_id, str(owner["id"]), owner["email"])
    assert identity.org_name
    assert provider.crm_user_id_clean(" 80000101 ") == "80000101"
    with pytest.raises(ValueError, match="owner id"):
        provider.crm_user_id_clean("005Dn000001AbcD")  # a Salesforce id typed by mistake


@pytest.mark.parametrize(
    ("stages", "stage", "reason"),
    [
        ("subscriber,lead,marketingqualifiedlead,salesqualifiedlead", "lead", ""),
        ("subscriber,lead,marketingqualifiedlead,salesqualifiedlead", "", ""),
        ("subscriber,lead,marketingqualifiedlead,salesqualifiedlead", "customer", "lifecycle stage customer"),
        ("", "customer", ""),
        ("customer", "customer", ""),
    ],
)
def test_which_contacts_are_leads_is_the_connections_lifecycle_stages(
    hs, hs_connection, provider, stages, stage, reason
):
    hs_connection.lead_lifecycle_stages = stages
    hs_connection.save(update_fields=["lead_lifecycle_stages"])
    record_id = hs.create("contacts", {"lastname": "Stage", **({"lifecyclestage": stage} if stage else {})})["id"]
    found = provider.not_a_lead_reason(record=provider.record(object=LEAD, record_id=record_id))
    assert found.startswith(reason) if reason else found == ""
    if reason:
        assert "not one of the lead stages" in found


def test_record_links_open_the_record_in_hubspot(empty_sandbox, hs, provider):
    url = provider.record_url(object=LEAD, record_id="501")
    assert url == f"{empty_sandbox.url}/hubspot/contacts/{hs.portal_id}/record/0-1/501"
    assert provider.record_url(object="account", record_id="77").endswith(f"/{hs.portal_id}/record/0-2/77")
    assert provider.record_url(object=LEAD, record_id="not-an-id") == ""


def test_the_legacy_path_family_reads_the_same(hs, provider, settings):
    ids = hs.seed(7)
    settings.HUBSPOT_API_VERSION = "v3"
    page = provider.changed_since(object=LEAD, cursor=Cursor.start(), page_size=50)
    assert sorted(record.id for record in page.records) == ids
    assert sorted(record.id for record in provider.records(object=LEAD, record_ids=ids)) == ids


def test_reads_may_ask_for_chosen_properties_only(hs, hs_account, sleeps):
    from crm.registry import provider_for

    record_id = hs.create(
        "contacts", {"lastname": "Chosen", "phone": "(415) 555-0150", "jobtitle": "Coach", "city": "Oakland"}
    )["id"]
    narrow = provider_for(hs_account, sleep=sleeps, properties=["jobtitle"], associations=False)
    (record,) = narrow.changed_since(object=LEAD, cursor=Cursor.start()).records
    assert record.id == record_id
    assert (record.name, record.phones["phone"], record.raw["jobtitle"]) == ("Chosen", "+14155550150", "Coach")
    assert "city" not in record.raw
    assert "company_id" not in record.fields  # no associations read
    assert narrow.object_spec(object=LEAD).field("city")  # the schema still names every property
