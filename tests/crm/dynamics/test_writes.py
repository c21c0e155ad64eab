"""The Dynamics provider's writes against the emulator over real HTTP: a task regarding a lead (bound through the
task table's navigation property, owned by the member's system user, due at the start of its day), on no record,
on a contact and an opportunity; column updates typed by metadata that never create a row; refusals named by column
before any write; new rows and upserts by an alternate key; and the opt-out column a connection names itself."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.dynamics import writes
from crm.records import Capability
from tests.factories import StudioFactory

pytestmark = pytest.mark.django_db

OTHER_CRMS_ID = "00Q5g00000abcdeEAA"  # a Salesforce lead id: no row id of Dataverse's


def lead_of(dv, **values) -> str:
    """A lead made by a person of the environment (not by Leadline); its id."""
    number = len(dv.rows("lead")) + 1
    return dv.create("lead", {"firstname": "Pat", "lastname": f"Lead {number}", "subject": "Trial class", **values})


def test_a_task_regards_its_lead_and_belongs_to_the_owner(dv, provider):
    lead = lead_of(dv)
    owner = dv.users[1]["systemuserid"]
    task_id = provider.create_task(
        object="lead",
        record_id=lead,
        owner_id=owner,
        subject="Follow up with Pat",
        due_date=date(2026, 12, 9),
        description="New lead for Downtown. Created by Leadline.",
    )
    task = dv.row("task", task_id)
    assert task is not None
    assert task["subject"] == "Follow up with Pat"
    assert task["description"] == "New lead for Downtown. Created by Leadline."
    assert (task["regardingobjectid"], task["regardingobjectid@table"]) == (lead, "lead")
    assert (task["ownerid"], task["ownerid@table"]) == (owner, "systemuser")
    assert task["statecode"] == 0  # open: a follow-up to do
    assert task["scheduledend"] == datetime(2026, 12, 9, tzinfo=UTC)  # the organization's day (no studio: UTC)
    assert task["createdby"] == dv.application_user_id


def test_a_tasks_due_date_starts_in_the_studios_time_zone(dv, provider, organization):
    StudioFactory(organization=organization, time_zone="America/Los_Angeles")
    task_id = provider.create_task(
        object="lead", record_id=lead_of(dv), owner_id="", subject="Call", due_date=date(2026, 7, 1)
    )
    assert dv.row("task", task_id)["scheduledend"] == datetime(2026, 7, 1, 7, tzinfo=UTC)  # midnight PDT


def test_a_task_without_an_owner_is_the_application_users_and_one_without_a_record_regards_nothing(dv, provider):
    task_id = provider.create_task(object="lead", record_id="", owner_id="", subject="A reply no lead matched")
    task = dv.row("task", task_id)
    assert task["regardingobjectid"] is None
    assert task["ownerid"] == dv.application_user_id


@pytest.mark.parametrize(("object", "table"), [("contact", "contact"), ("deal", "opportunity")])
def test_a_task_regards_a_contact_or_an_opportunity(dv, provider, object, table):
    values = {"lastname": "Rivera"} if table == "contact" else {"name": "Ten-class pack"}
    record = dv.create(table, values)
    task_id = provider.create_task(object=object, record_id=record, owner_id="", subject="Call back")
    task = dv.row("task", task_id)
    assert (task["regardingobjectid"], task["regardingobjectid@table"]) == (record, table)


def test_the_regarding_property_is_read_from_the_task_tables_relationships(provider):
    relationships = writes.metadata_of(provider).relationships("task")
    named = {row["ReferencedEntity"]: row["ReferencingEntityNavigationPropertyName"] for row in relationships}
    assert named["lead"] == "regardingobjectid_lead_task"
    metadata = writes.metadata_of(provider)
    assert metadata.navigation("task", "regardingobjectid", "lead") == "regardingobjectid_lead_task"
    assert metadata.navigation("lead", "ownerid", "systemuser") == "ownerid"  # an owner binds by its own name
    assert metadata.navigation("contact", "parentcustomerid", "account") == "parentcustomerid_account"


def test_an_id_of_another_crm_is_refused_before_any_call(dv, provider):
    before = len(dv.rows("task"))
    with pytest.raises(CrmNotFound):
        provider.create_task(object="lead", record_id=OTHER_CRMS_ID, owner_id="", subject="Nope")
    with pytest.raises(CrmNotFound):
        provider.update_fields(object="lead", record_id=OTHER_CRMS_ID, values={"lh_smsoptout": True})
    assert len(dv.rows("task")) == before


def test_an_update_sets_only_the_given_columns_typed_by_their_metadata(dv, provider):
    account = dv.create("account", {"name": "Harbor Gyms"})
    lead = lead_of(dv, emailaddress1="pat@example.com", telephone1="(415) 555-0142")
    before = dict(dv.row("lead", lead))
    provider.update_fields(
        object="lead",
        record_id=lead,
        values={"lh_smsoptout": True, "parentaccountid": account, "leadsourcecode": 3, "lh_studio": "Downtown"},
    )
    after = dv.row("lead", lead)
    assert after["lh_smsoptout"] is True
    assert (after["parentaccountid"], after["parentaccountid@table"]) == (account, "account")
    assert (after["leadsourcecode"], after["lh_studio"]) == (3, "Downtown")
    assert (after["emailaddress1"], after["telephone1"]) == ("pat@example.com", "(415) 555-0142")
    assert after["versionnumber"] > before["versionnumber"]
    assert after["modifiedby"] == dv.application_user_id


def test_an_option_is_given_by_its_number_or_its_label_and_text_columns_take_text(dv, provider):
    lead = lead_of(dv)
    provider.update_fields(object="lead", record_id=lead, values={"leadsourcecode": "employee referral"})
    assert dv.row("lead", lead)["leadsourcecode"] == 2
    provider.update_fields(object="lead", record_id=lead, values={"leadsourcecode": "1", "lh_studio": 42})
    assert (dv.row("lead", lead)["leadsourcecode"], dv.row("lead", lead)["lh_studio"]) == (1, "42")
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object="lead", record_id=lead, values={"leadsourcecode": "Billboard"})
    assert list(caught.value.field_errors) == ["leadsourcecode"]


def test_an_update_of_a_deleted_row_is_not_found_and_creates_nothing(dv, provider):
    lead = lead_of(dv)
    dv.delete("lead", lead)
    with pytest.raises(CrmNotFound):
        provider.update_fields(object="lead", record_id=lead, values={"lh_smsoptout": True})
    assert dv.row("lead", lead) is None  # If-Match: * kept the PATCH from creating it
    with pytest.raises(CrmNotFound):
        provider.update_fields(object="lead", record_id=str(uuid.uuid4()), values={"lh_smsoptout": True})


def test_values_that_do_not_fit_are_refused_by_column_before_any_write(dv, provider):
    lead = lead_of(dv)
    version = dv.row("lead", lead)["versionnumber"]
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(
            object="lead",
            record_id=lead,
            values={"lh_smsoptout": "not a boolean", "no_such_column": 1, "createdon": datetime.now(UTC)},
        )
    assert set(caught.value.field_errors) == {"lh_smsoptout", "no_such_column", "createdon"}
    assert dv.row("lead", lead)["versionnumber"] == version


def test_a_new_row_is_created_with_its_lookups_and_its_id_returned(dv, provider):
    account = dv.create("account", {"name": "Harbor Gyms"})
    owner = dv.users[2]["systemuserid"]
    lead = provider.create_record(
        object="lead",
        values={"firstname": "Sam", "lastname": "Ortiz", "parentaccountid": account, "ownerid": owner},
    )
    row = dv.row("lead", lead)
    assert (row["fullname"], row["parentaccountid"], row["ownerid"]) == ("Sam Ortiz", account, owner)
    assert row["createdby"] == dv.application_user_id


def test_an_upsert_by_alternate_key_creates_then_updates_the_same_row(dv, provider):
    assert provider.supports(Capability.UPSERT_BY_EXTERNAL_ID)
    values = {"lh_leadlinemessageid": "msg-42", "subject": "SMS to +14155550142"}
    first, created = provider.upsert(object="lh_sms", external_id_field="lh_leadlinemessageid", values=values)
    assert created is True
    again, created_again = provider.upsert(
        object="lh_sms",
        external_id_field="lh_leadlinemessageid",
        values={**values, "subject": "SMS to +14155550142 (resent)"},
    )
    assert (again, created_again) == (first, False)
    rows = [row for row in dv.rows("lh_sms") if row["lh_leadlinemessageid"] == "msg-42"]
    assert [row["activityid"] for row in rows] == [first]
    assert rows[0]["subject"] == "SMS to +14155550142 (resent)"


def test_an_upsert_needs_its_key_value(provider):
    with pytest.raises(CrmRejected) as caught:
        provider.upsert(object="lh_sms", external_id_field="lh_leadlinemessageid", values={"subject": "x"})
    assert "lh_leadlinemessageid" in caught.value.field_errors


def test_the_connections_opt_out_column_wins_over_the_messaging_settings(dv, dv_connection, organization):
    from messaging.models import MessagingSettings
    from messaging.selectors import crm_opt_out_field_get

    MessagingSettings.objects.create(organization=organization, crm_opt_out_field="SMS_Opt_Out")
    assert crm_opt_out_field_get(organization=organization) == "SMS_Opt_Out"
    dv_connection.opt_out_column = "lh_smsoptout"
    dv_connection.save(update_fields=["opt_out_column"])
    assert crm_opt_out_field_get(organization=organization) == "lh_smsoptout"
    assert writes.opt_out_column(dv_connection.account) == "lh_smsoptout"


def test_an_opt_out_is_written_to_the_connections_column(dv, dv_connection, organization, provider):
    from automation.services.crm_write_back import crm_write_back_apply
    from messaging.models import CrmWriteBack
    from messaging.services.opt_out import crm_write_back_queue

    dv_connection.opt_out_column = "lh_smsoptout"
    dv_connection.save(update_fields=["opt_out_column"])
    lead = lead_of(dv, mobilephone="+1 415-555-0143")
    write_back = crm_write_back_queue(organization=organization, phone="+14155550143", opted_out=True)
    assert write_back.field == "lh_smsoptout"
    assert crm_write_back_apply(write_back=write_back, provider=provider) == 1
    write_back.refresh_from_db()
    assert write_back.status == CrmWriteBack.Status.DONE, write_back.last_error
    assert dv.row("lead", lead)["lh_smsoptout"] is True
