"""Zoho's log_activities against the emulator: more activities than one insert takes go in inserts of 100, leads by
What_Id and contacts by Who_Id, each completed; a record id Zoho cannot have is refused alone, without a call; and
record_url is the record in the data centre's CRM web app."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.errors import CrmNotFound
from crm.records import Activity
from crm.registry import provider_for
from tests.crm.zoho.conftest import control, crm_account


def task_inserts(server) -> int:
    counters = control(server, "GET", "counters")
    return sum(count for name, count in counters.items() if "insert_records" in name)


def test_a_hundred_and_one_activities_go_in_two_inserts_and_each_lands_completed(empty_account, empty_sandbox):
    lead = control(empty_sandbox, "POST", "zoho/leads", {"Last_Name": "Many", "Mobile": "+14155559700"})
    control(empty_sandbox, "POST", "zoho/seed", {"module": "Contacts", "count": 1, "seed": 3})
    (contact,) = control(empty_sandbox, "GET", "zoho/Contacts?limit=10")
    moment = datetime(2026, 12, 7, 14, 3, tzinfo=UTC)
    activities = [
        Activity(key=f"k{n}", object="lead", record_id=str(lead["id"]), subject=f"SMS {n}", occurred_at=moment)
        for n in range(100)
    ]
    activities.append(Activity(key="c", object="contact", record_id=str(contact["id"]), subject="SMS contact"))
    provider = provider_for(empty_account)
    before = task_inserts(empty_sandbox)
    logged = provider.log_activities(activities=activities)
    assert task_inserts(empty_sandbox) - before == 2
    assert [item.key for item in logged] == [activity.key for activity in activities]
    assert all(item.ok for item in logged)
    tasks = {t["Subject"]: t for t in control(empty_sandbox, "GET", "zoho/Tasks?limit=1000")}
    on_lead = [task for subject, task in tasks.items() if subject.startswith("SMS ") and subject != "SMS contact"]
    assert len(on_lead) == 100
    assert {(t["Status"], t["What_Id"]["id"], t["$se_module"], t["Due_Date"]) for t in on_lead} == {
        ("Completed", str(lead["id"]), "Leads", "2026-12-07")
    }
    assert (tasks["SMS contact"]["Status"], tasks["SMS contact"]["Who_Id"]["id"]) == ("Completed", str(contact["id"]))


def test_a_record_id_zoho_cannot_have_is_refused_alone(empty_account, empty_sandbox):
    lead = control(empty_sandbox, "POST", "zoho/leads", {"Last_Name": "One", "Mobile": "+14155559701"})
    provider = provider_for(empty_account)
    bad, good = provider.log_activities(
        activities=[
            Activity(key="bad", object="lead", record_id="00Q5g00000AbCdEEAV", subject="SMS to a Salesforce id"),
            Activity(key="good", object="lead", record_id=str(lead["id"]), subject="SMS on the lead"),
        ]
    )
    assert isinstance(bad.error, CrmNotFound)
    assert good.ok


def test_record_url_follows_the_data_centre(organization, empty_sandbox):
    eu = crm_account(organization, empty_sandbox, name="eu", accounts_url="https://accounts.zoho.eu")
    assert provider_for(eu).record_url(object="lead", record_id="4150868000000624001") == (
        "https://crm.zoho.eu/crm/tab/Leads/4150868000000624001"
    )
    assert provider_for(eu).record_url(object="contact", record_id="not-a-zoho-id") == ""
    local = crm_account(organization, empty_sandbox, name="local", is_default=False)
    url = provider_for(local).record_url(object="contact", record_id="42")
    assert url == f"{empty_sandbox.url}/crm/tab/Contacts/42"
