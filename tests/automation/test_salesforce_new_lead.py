"""The new-lead flow on Salesforce end to end, against the sandbox's Salesforce org over real HTTP: the Flow's HTTP
callout (`{"leadId": ...}` to the short URL) → intake → Task for the owner (WhoId the lead) → welcome text; the
callout delivered twice gives one task and one text; a callout that never comes is made up for by the mirror."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from django.utils import timezone

from automation.models import AutomationStep, LeadIntake
from automation.services.settings import automation_webhook_token_rotate
from automation.tasks import automation_due_task
from messaging.models import Message
from studios.models import ProviderAccount
from sync.delta import sync_run
from sync.models import SyncRun
from tests.automation.conftest import crm_user_link, post_webhook

pytestmark = pytest.mark.django_db(transaction=True)


class SalesforceWorld:
    def __init__(self, twilio, org: dict, account: ProviderAccount, short_url: str) -> None:
        self.twilio, self.org, self.account, self.short_url = twilio, org, account, short_url
        self.owner = org["users"][1]["id"]  # works at Downtown

    def call(self, method: str, path: str, body=None):
        return self.twilio.control(method, f"/_sandbox/salesforce/orgs/{self.org['org_id']}{path}", json=body)

    def lead_create(self, **fields) -> str:
        lead = {
            "FirstName": "Sam",
            "LastName": "Summit",
            "Company": "Self",
            "MobilePhone": "(415) 555-9017",
            "OwnerId": self.owner,
            **fields,
        }
        return self.call("POST", "/records/Lead", {"records": [lead]})["ids"][0]

    def tasks_on(self, lead_id: str) -> list[dict]:
        answer = self.call("GET", f"/records/Task?WhoId={lead_id}")
        return list(answer.get("records", answer) if isinstance(answer, dict) else answer)

    def intakes(self):
        return LeadIntake.objects.for_organization(self.twilio.organization)

    def texts(self) -> int:
        return Message.objects.for_organization(self.twilio.organization).filter(kind="automated").count()

    def mirror(self) -> SyncRun:
        run = sync_run(organization=self.twilio.organization, object="lead")
        assert run.status == SyncRun.Status.OK, run.error
        return run

    def wait_for_intake(self, timeout: float = 15.0) -> LeadIntake:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            intake = self.intakes().first()
            if intake is not None and intake.status == LeadIntake.Status.DONE:
                return intake
            time.sleep(0.05)
        raise AssertionError(f"no finished intake: {list(self.intakes().values('status', 'attention_reason'))}")


@pytest.fixture
def salesforce_world(twilio_world, automation_inline) -> SalesforceWorld:
    world = twilio_world
    org = world.control(
        "POST", "/_sandbox/salesforce/orgs", json={"name": "Summit Test Org", "redirect_uris": ["http://x.test/cb"]}
    )
    account = ProviderAccount.unscoped_objects.create(
        organization=world.organization,
        name="summit-salesforce",
        kind="salesforce",
        is_default=True,
        client_id=org["client_id"],
        client_secret=org["client_secret"],
        refresh_token=org["refresh_token"],
        accounts_url=world.sandbox_url,
        api_domain=org.get("instance_url") or world.sandbox_url,
        custom_endpoints=True,
    )
    crm_user_link(world.staff, account, org["users"][1]["id"])
    url = automation_webhook_token_rotate(organization=world.organization)
    assert "/webhooks/crm/salesforce/leads/" in url
    return SalesforceWorld(world, org, account, url.replace("/leads/", "/"))


def test_the_flows_callout_makes_a_task_for_the_owner_and_a_welcome_text_once_however_often_it_comes(
    salesforce_world,
):
    world = salesforce_world
    world.call("PATCH", "", {"callout_url": world.short_url})
    lead_id = world.lead_create()
    intake = world.wait_for_intake()
    assert (intake.crm_record_id, intake.source) == (lead_id, "webhook")
    assert intake.studio == world.twilio.downtown
    [task] = world.tasks_on(lead_id)
    assert task["Id"] == intake.crm_task_id
    assert task["OwnerId"] == world.owner
    assert task["Subject"] == "Follow up with Sam Summit"
    assert intake.welcome_message.to_number == "+14155559017"
    # Delivered again (Flow retries a callout it thinks failed), by either URL and either body.
    assert post_webhook(world.short_url, json.dumps({"leadId": lead_id})).status_code == 200
    leads_url = world.short_url.replace("/salesforce/", "/salesforce/leads/")
    assert post_webhook(leads_url, json.dumps({"Id": lead_id})).status_code == 200
    # The 15-character spelling of the same id (a formula's {!Id}): the CRM answers with the 18, so the same lead.
    assert post_webhook(world.short_url, json.dumps({"leadId": lead_id[:15]})).status_code == 200
    world.mirror()
    assert list(world.intakes().values_list("crm_record_id", flat=True)) == [lead_id]
    assert len(world.tasks_on(lead_id)) == 1
    assert world.texts() == 1
    log = AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
    assert f"the same lead again, as {lead_id[:15]}" in [step.detail.split(":")[0] for step in log]


def test_a_lead_whose_callout_never_comes_is_found_by_the_mirror(salesforce_world):
    world = salesforce_world  # no callout_url: the Flow is not set up
    world.mirror()
    lead_id = world.lead_create(FirstName="Nia")
    world.mirror()
    intake = world.intakes().get()
    assert (intake.crm_record_id, intake.source, intake.status) == (lead_id, "mirror", LeadIntake.Status.WAITING)
    LeadIntake.objects.unscoped().filter(pk=intake.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert automation_due_task() == 1
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.DONE, intake.attention_reason
    assert len(world.tasks_on(lead_id)) == 1
    assert world.texts() == 1
    steps = AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
    assert [step.step for step in steps][:2] == ["found_by_mirror", "webhook_missing"]


def test_a_late_callout_naming_the_lead_by_its_15_character_id_starts_the_mirrors_intake(salesforce_world):
    world = salesforce_world
    world.mirror()
    lead_id = world.lead_create()
    world.mirror()
    assert world.intakes().get().status == LeadIntake.Status.WAITING
    assert post_webhook(world.short_url, json.dumps({"leadId": lead_id[:15]})).status_code == 200
    intake = world.intakes().get()  # the call's own intake went: the mirror's one holds the lead
    assert (intake.crm_record_id, intake.source, intake.status) == (lead_id, "mirror", LeadIntake.Status.DONE)
    steps = [s.step for s in AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)]
    assert steps[:3] == ["found_by_mirror", "webhook_received", "lead_loaded"]
    assert "webhook_missing" not in steps
    assert len(world.tasks_on(lead_id)) == 1
    assert world.texts() == 1
