"""A new lead whose CRM call never came is found by the mirror's delta sync, and automation still runs for it (one
sync interval later, saying so in its step log); a call that comes after the mirror found the lead starts that same
intake at once. Against the Zoho sandbox over real HTTP, with the real sync engine (sync.delta.sync_run)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from django.utils import timezone

from automation.models import AutomationSettings, AutomationStep, LeadIntake
from automation.services.discovered import CALL_MISSING
from automation.tasks import automation_due_task
from messaging.models import Message
from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun
from tests.automation.conftest import post_webhook

pytestmark = pytest.mark.django_db(transaction=True)


def intakes(world):
    return LeadIntake.objects.for_organization(world.organization)


def steps(intake) -> list[tuple[str, str, str]]:
    rows = AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
    return [(s.step, s.outcome, s.detail) for s in rows]


def texts(world) -> int:
    return Message.objects.for_organization(world.organization).filter(kind="automated").count()


def tasks_on(world, lead_id: str) -> int:
    return sum(1 for task in world.tasks() if (task.get("What_Id") or {}).get("id") == lead_id)


def mirror(world) -> SyncRun:
    run = sync_run(organization=world.organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    return run


def interval_passes(intake: LeadIntake) -> None:
    """The sync interval the intake waits for the CRM's call goes by (its wait is over: the due sweep's turn)."""
    LeadIntake.objects.unscoped().filter(pk=intake.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def no_callout(automation_world):
    """The CRM's new-lead rule is gone (switched off, or never set up): no call comes."""
    automation_world.control("DELETE", "/_sandbox/zoho/workflows")
    return automation_world


def test_a_lead_whose_call_never_comes_is_found_by_the_mirror_and_handled_within_two_runs(no_callout):
    world = no_callout
    mirror(world)  # the first load: every lead in it is old
    lead = world.lead_create(First_Name="Mira", Last_Name="Mirror")
    found = mirror(world)
    assert found.inserted == 1
    intake = intakes(world).get()
    assert (intake.crm_record_id, intake.source, intake.status) == (lead["id"], "mirror", LeadIntake.Status.WAITING)
    # Waiting one sync interval (15 minutes by default) for the CRM's call, not started yet.
    wait = intake.next_attempt_at - timezone.now()
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)
    assert automation_due_task() == 0
    assert texts(world) == 0
    assert [s[:2] for s in steps(intake)] == [("found_by_mirror", "retry")]

    interval_passes(intake)  # the next run's time: the call never came
    mirror(world)
    assert automation_due_task() == 1
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.DONE, intake.attention_reason
    assert intake.studio == world.downtown
    assert tasks_on(world, lead["id"]) == 1
    assert texts(world) == 1
    assert intake.welcome_message.body.startswith("Hi Mira")
    log = steps(intake)
    assert [s[0] for s in log] == [
        "found_by_mirror",
        "webhook_missing",
        "lead_loaded",
        "studio_resolved",
        "task_created",
        "sms_sent",
        "done",
    ]
    assert CALL_MISSING in log[1][2]
    assert automation_due_task() == 0  # done: never again


def test_a_call_that_comes_after_the_mirror_found_the_lead_starts_it_at_once_once(no_callout):
    world = no_callout
    mirror(world)
    lead = world.lead_create()
    mirror(world)
    intake = intakes(world).get()
    assert intake.status == LeadIntake.Status.WAITING
    # The Salesforce-style body and the short URL, as a Flow's HTTP callout sends them.
    short_url = world.webhook_url.replace("/leads/", "/")
    body = json.dumps({"leadId": lead["id"]})
    assert post_webhook(short_url, body).status_code == 200
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.DONE, intake.attention_reason
    assert [s[0] for s in steps(intake)][:3] == ["found_by_mirror", "webhook_received", "lead_loaded"]
    assert "webhook_missing" not in [s[0] for s in steps(intake)]
    # Delivered again, and the sweep and the next run after the interval: still one intake, one task, one text.
    assert post_webhook(world.webhook_url, json.dumps({"Id": lead["id"]})).status_code == 200
    interval_passes(intake)
    mirror(world)
    assert automation_due_task() == 0
    assert intakes(world).count() == 1
    assert tasks_on(world, lead["id"]) == 1
    assert texts(world) == 1
    assert ("webhook_received", "skipped") in [s[:2] for s in steps(intake)]


def test_a_call_that_came_first_leaves_the_mirror_nothing_to_do(automation_world):
    world = automation_world
    mirror(world)
    world.lead_create()
    world.wait_for_events(1)
    intake = intakes(world).get()
    assert intake.status == LeadIntake.Status.DONE
    mirror(world)
    assert intakes(world).count() == 1
    assert "found_by_mirror" not in [s[0] for s in steps(intake)]
    assert texts(world) == 1


def test_the_first_load_starts_nothing_even_for_new_leads(no_callout):
    world = no_callout
    world.lead_create()  # new, but the mirror's first load cannot tell it from the old ones
    first = mirror(world)
    assert first.inserted > 1
    assert not intakes(world).exists()
    mirror(world)  # nothing new since
    assert not intakes(world).exists()


def test_old_leads_edited_are_not_texted_even_when_new_to_the_mirror(no_callout):
    world = no_callout
    mirror(world)
    oldest = world.control("GET", "/_sandbox/zoho/Leads", params={"limit": 500})[-2:]  # least recently modified
    for lead in oldest:
        created = datetime.fromisoformat(lead["Created_Time"])
        assert created < timezone.now() - timedelta(days=1)
    missed = oldest[1]
    # One the mirror holds, one it lost (as if never mirrored): both edited now in the CRM.
    CrmRecord.objects.unscoped().filter(object="lead", external_id=missed["id"]).delete()
    for lead in oldest:
        world.control("PATCH", f"/_sandbox/zoho/Leads/{lead['id']}", json={"Last_Name": "Edited long after"})
    run = mirror(world)
    assert (run.inserted, run.updated) == (1, 1)
    assert not intakes(world).exists()


def test_an_organization_without_lead_automation_set_up_gets_no_intake(no_callout):
    world = no_callout
    AutomationSettings.objects.for_organization(world.organization).delete()
    mirror(world)
    world.lead_create()
    assert mirror(world).inserted == 1
    assert not intakes(world).exists()
