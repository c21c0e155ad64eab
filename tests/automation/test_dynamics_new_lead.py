"""The new-lead flow on Dynamics 365 end to end, over real HTTP: a person adds a lead in the emulated Dataverse
environment, its webhook step POSTs the execution context with the x-leadline-webhook-key header to
/webhooks/crm/dynamics/events/, the intake reads the lead, finds its owner's studio (system user -> membership),
creates a task regarding the lead for the owner and sends the studio's welcome text, which is then logged on the
lead's timeline as a completed activity. Delivered twice: one task, one text. Leads our application user creates
come back as webhooks too and start nothing. A webhook that never comes is made up for by the mirror's change
tracking. A yes to the welcome text sends the follow-up and a task on the lead."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from django.utils import timezone

from automation.models import AutomationSettings, AutomationStep, LeadIntake, ReplyFollowUp
from automation.services.crm_timeline import crm_timeline_flush
from automation.tasks import automation_due_task
from core.models import InboundEvent
from crm.providers.dynamics.models import DynamicsConnection, webhook_secret_new
from crm.registry import provider_for
from messaging.models import Message
from sync.delta import sync_run
from sync.models import SyncRun
from tests.automation.conftest import crm_user_link
from tests.crm.harness_dynamics import DataverseEnvironment, account_for, with_tls
from tests.crm.harness_hubspot import control

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS_PATH = "/webhooks/crm/dynamics/events/"
HEADER = "x-leadline-webhook-key"
LEAD = "lead"


class DynamicsWorld:
    def __init__(self, twilio, dv: DataverseEnvironment, account, owner: str) -> None:
        self.twilio, self.dv, self.account, self.owner = twilio, dv, account, owner
        self.connection: DynamicsConnection = account.dynamics_connection
        self.server = dv.server
        self.base = f"dynamics/environments/{dv.name}"

    def register_webhook(self, secret: str | None = None) -> dict[str, Any]:
        """What the customer's admin registers with the Plug-in Registration tool: our URL, HttpHeader
        authentication with the connection's key, an asynchronous post-operation step on lead Create."""
        body = {
            "url": self.twilio.product_url + EVENTS_PATH,
            "header_name": HEADER,
            "header_value": self.connection.webhook_secret.reveal() if secret is None else secret,
            "table": LEAD,
            "message": "Create",
        }
        return control(self.server, "POST", f"{self.base}/webhooks", body)

    def lead_create(self, **values: Any) -> str:
        """A person adds a lead in the app (as that person: a webhook fires, change tracking sees it)."""
        lead = {"firstname": "Sam", "lastname": "Summit", "mobilephone": "(415) 555-9017", "ownerid": self.owner}
        body = {"values": {**lead, **values}, "as_user": self.owner}
        return str(control(self.server, "POST", f"{self.base}/tables/lead/rows", body)["leadid"])

    def row(self, table: str, row_id: str) -> dict[str, Any]:
        return control(self.server, "GET", f"{self.base}/tables/{table}/rows/{row_id}")

    def regarding(self, table: str, record_id: str) -> list[dict[str, Any]]:
        return control(self.server, "GET", f"{self.base}/tables/{table}/rows", regarding=record_id)

    def tasks_on(self, lead_id: str) -> list[str]:
        return [str(task["activityid"]) for task in self.regarding("task", lead_id) if task.get("statecode") == 0]

    def deliveries(self) -> list[dict[str, Any]]:
        return list(control(self.server, "GET", f"{self.base}/webhooks/deliveries"))

    def wait_delivered(self, record_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The emulator's answered deliveries about the record, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [item for item in self.deliveries() if item["record_id"] == record_id and item["ok"]]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no answered delivery about {record_id}: {self.deliveries()}")

    def redeliver(self, delivery: dict[str, Any]) -> requests.Response:
        """Dataverse's retry of an asynchronous step whose answer it did not get: the same context again."""
        headers = {**delivery["headers"], HEADER: self.connection.webhook_secret.reveal()}
        url = self.twilio.product_url + EVENTS_PATH
        return requests.post(url, json=delivery["body"], headers=headers, timeout=20)

    def intakes(self):
        return LeadIntake.objects.for_organization(self.twilio.organization)

    def wait_for_intake(self, record_id: str, timeout: float = 15.0) -> LeadIntake:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            intake = self.intakes().filter(crm_record_id=record_id).first()
            if intake is not None and intake.status == LeadIntake.Status.DONE:
                return intake
            time.sleep(0.05)
        raise AssertionError(f"no finished intake: {list(self.intakes().values('status', 'attention_reason'))}")

    def texts(self) -> int:
        return Message.objects.for_organization(self.twilio.organization).filter(kind="automated").count()

    def mirror(self) -> SyncRun:
        run = sync_run(organization=self.twilio.organization, object=LEAD)
        assert run.status == SyncRun.Status.OK, run.error
        return run

    def steps(self, intake: LeadIntake) -> list[tuple[str, str, str]]:
        rows = AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
        return [(row.step, row.outcome, row.detail) for row in rows]


@pytest.fixture
def dynamics_world(twilio_world, automation_inline, sandbox) -> DynamicsWorld:
    world = twilio_world
    with_tls(sandbox)  # Entra's stand-in on HTTPS (msal wants an https authority), stopped with the sandbox
    dv = DataverseEnvironment(sandbox, name="harbore2e", organization_name="Harbor End To End")
    account = account_for(world.organization, dv, name="acme-dynamics")
    DynamicsConnection.unscoped_objects.filter(account=account).update(webhook_secret=webhook_secret_new())
    account.refresh_from_db()
    owner = str(dv.users[1]["systemuserid"])
    crm_user_link(world.staff, account, owner)  # works at Downtown
    AutomationSettings.unscoped_objects.create(organization=world.organization, is_enabled=True)
    return DynamicsWorld(world, dv, account, owner)


def test_a_new_lead_gets_a_task_and_a_welcome_text_once_however_often_it_is_delivered(dynamics_world):
    world = dynamics_world
    world.register_webhook()
    lead_id = world.lead_create()
    intake = world.wait_for_intake(lead_id)
    assert (intake.source, intake.connection_id) == ("webhook", world.account.pk)
    assert intake.studio == world.twilio.downtown
    [task_id] = world.tasks_on(lead_id)
    assert task_id == intake.crm_task_id
    task = world.row("task", task_id)
    assert (task["ownerid"], task["regardingobjectid@table"]) == (world.owner, LEAD)
    assert task["subject"] == "Follow up with Sam Summit"
    assert intake.welcome_message.to_number == "+14155559017"
    [delivered] = world.wait_delivered(lead_id)
    assert (delivered["message"], delivered["user_id"], delivered["attempt"]) == ("Create", world.owner, 1)
    # Dataverse delivers it again (our answer was lost): nothing new, however often.
    assert world.redeliver(delivered).status_code == 200
    assert world.redeliver(delivered).json() == {"status": "received", "recorded": 0}
    world.mirror()  # and the mirror finds the lead too
    assert list(world.intakes().values_list("crm_record_id", flat=True)) == [lead_id]
    assert world.tasks_on(lead_id) == [task_id]
    assert world.texts() == 1
    assert InboundEvent.objects.filter(source="dynamics.lead").count() == 1
    # The welcome text on the lead's timeline: a completed task regarding the lead.
    assert crm_timeline_flush().logged == 1
    [logged] = [task for task in world.regarding("task", lead_id) if task["activityid"] != task_id]
    assert (logged["statecode"], logged["subject"]) == (1, "SMS to +14155559017")
    assert logged["description"].startswith(intake.welcome_message.body)


def test_the_text_goes_to_the_custom_sms_activity_when_the_connection_says_so(dynamics_world):
    world = dynamics_world
    DynamicsConnection.unscoped_objects.filter(pk=world.connection.pk).update(
        timeline_activity=DynamicsConnection.TimelineActivity.CUSTOM, custom_activity_table="lh_sms"
    )
    world.register_webhook()
    lead_id = world.lead_create(firstname="Tia", mobilephone="+1 415-555-9031")
    intake = world.wait_for_intake(lead_id)
    assert crm_timeline_flush().logged == 1
    [sms] = world.regarding("lh_sms", lead_id)
    assert sms["description"].startswith(intake.welcome_message.body)
    assert world.tasks_on(lead_id) == [intake.crm_task_id]  # the follow-up task only; the text is no task


def test_a_delivery_without_the_right_key_starts_nothing(dynamics_world):
    world = dynamics_world
    world.register_webhook(secret="an-old-rotated-key")
    lead_id = world.lead_create(firstname="Rex")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not world.deliveries():
        time.sleep(0.05)
    assert {item["status"] for item in world.deliveries()} == {401}
    assert not InboundEvent.objects.exists()
    assert world.intakes().filter(crm_record_id=lead_id).count() == 0


def test_leads_our_application_user_creates_come_back_and_start_nothing(dynamics_world):
    world = dynamics_world
    world.register_webhook()
    provider = provider_for(world.account)
    ours = provider.create_record(
        object=LEAD, values={"firstname": "Olive", "lastname": "Ours", "mobilephone": "+14155559018"}
    )
    [echo] = world.wait_delivered(ours)
    assert echo["user_id"] == world.connection.application_user_id
    person = world.lead_create(firstname="Pia")
    world.wait_for_intake(person)
    assert list(world.intakes().values_list("crm_record_id", flat=True)) == [person]
    assert InboundEvent.objects.filter(source="dynamics.lead").count() == 1
    assert world.texts() == 1


def test_a_lead_whose_webhook_never_comes_is_found_by_the_mirror(dynamics_world):
    world = dynamics_world  # no webhook registered: nothing is delivered
    world.mirror()  # the first load (change tracking: a full read and its delta link)
    lead_id = world.lead_create(firstname="Nia")
    found = world.mirror()  # the delta link brings the new lead
    assert found.inserted == 1
    intake = world.intakes().get()
    assert (intake.crm_record_id, intake.source, intake.status) == (lead_id, "mirror", LeadIntake.Status.WAITING)
    LeadIntake.objects.unscoped().filter(pk=intake.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert automation_due_task() == 1
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.DONE, intake.attention_reason
    assert world.tasks_on(lead_id) == [intake.crm_task_id]
    assert world.texts() == 1
    assert [step[0] for step in world.steps(intake)][:2] == ["found_by_mirror", "webhook_missing"]


def test_a_yes_to_the_welcome_text_sends_the_follow_up_and_a_task_on_the_lead(dynamics_world):
    world = dynamics_world
    world.register_webhook()
    lead_id = world.lead_create(firstname="Yara")
    intake = world.wait_for_intake(lead_id)
    world.twilio.phone_texts(to=world.twilio.downtown_number.number, body=" yes ", sender=intake.lead_phone)
    reply = ReplyFollowUp.objects.for_organization(world.twilio.organization).get()
    assert reply.status == ReplyFollowUp.Status.DONE, reply.attention_reason
    assert (reply.connection_id, reply.crm_record_id) == (world.account.pk, lead_id)
    assert reply.follow_up_message.body.startswith("Great, Yara!")
    assert reply.crm_task_id in world.tasks_on(lead_id)
    assert world.row("task", reply.crm_task_id)["ownerid"] == world.owner
