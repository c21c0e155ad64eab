"""A lead two-way sync created from a lead of the organization's other CRM is that lead's copy: its original had its
own intake (a task and a welcome text), so the copy gets neither; a person's new lead still gets both."""

from __future__ import annotations

from automation.models import AutomationStep, LeadIntake
from crm.hooks import record_origin_find
from crm.records import CanonicalRecord
from links.models import LinkObject, LinkWrite, RecordPair, SyncLink
from studios.models import ProviderAccount


def _linked_copy(world, *, created_on_zoho: bool = True) -> RecordPair:
    """A running link HubSpot (A) ⇄ Zoho (B) of leads, and a pair whose Zoho lead the link is creating."""
    hubspot = ProviderAccount.unscoped_objects.create(
        organization=world.organization, name="acme-hubspot", kind="hubspot", client_id="c", refresh_token="r"
    )
    link = SyncLink.unscoped_objects.create(
        organization=world.organization,
        name="marketing-to-sales",
        connection_a=hubspot,
        connection_b=world.zoho,
        state=SyncLink.State.RUNNING,
    )
    link_object = LinkObject.unscoped_objects.create(
        organization=world.organization,
        link=link,
        object_a="lead",
        object_b="lead",
        external_id_a="leadline_id",
        external_id_b="Leadline_Id",
    )
    pair = RecordPair.unscoped_objects.create(
        organization=world.organization,
        link=link,
        link_object=link_object,
        id_a="hs-501",
        matched_by=RecordPair.MatchedBy.CREATED,
    )
    LinkWrite.unscoped_objects.create(
        organization=world.organization,
        link=link,
        link_object=link_object,
        pair=pair,
        side="b" if created_on_zoho else "a",
        operation=LinkWrite.Operation.CREATE,
        origin=LinkWrite.Origin.A,
        state=LinkWrite.State.SENDING,
    )
    return pair


def _intake_steps(world) -> tuple[LeadIntake, list[tuple[str, str]]]:
    intake = LeadIntake.objects.for_organization(world.organization).get()
    steps = AutomationStep.objects.for_organization(world.organization).filter(lead_intake=intake)
    return intake, [(step.step, step.outcome) for step in steps]


def test_a_lead_the_link_is_creating_is_known_by_our_id_before_the_create_answered(automation_world):
    pair = _linked_copy(automation_world)
    lead = automation_world.lead_create(Last_Name="Copy", Leadline_Id=str(pair.leadline_id))
    automation_world.wait_for_events(1)

    intake, steps = _intake_steps(automation_world)
    assert intake.status == LeadIntake.Status.DONE
    assert ("lead_copy", "skipped") in steps
    assert not intake.crm_task_id
    assert intake.welcome_message is None
    assert not [task for task in automation_world.tasks() if task["What_Id"]["id"] == lead["id"]]
    detail = AutomationStep.objects.for_organization(automation_world.organization).get(step="lead_copy").detail
    assert "hs-501" in detail
    assert "acme-hubspot" in detail
    assert "marketing-to-sales" in detail


def test_a_person_s_new_lead_beside_a_link_still_gets_its_task_and_text(automation_world):
    _linked_copy(automation_world)
    automation_world.lead_create(Last_Name="Person")
    automation_world.wait_for_events(1)

    intake, steps = _intake_steps(automation_world)
    assert intake.status == LeadIntake.Status.DONE
    assert ("lead_copy", "skipped") not in steps
    assert intake.crm_task_id
    assert intake.welcome_message is not None


def test_a_record_the_link_created_on_the_other_side_is_no_copy_here(automation_world):
    pair = _linked_copy(automation_world, created_on_zoho=False)  # the pair's create went to HubSpot, not to Zoho
    pair.id_b = "zoho-9"
    pair.save()
    record = CanonicalRecord(object="lead", id="zoho-9", modified_time=pair.created_at)
    origin = record_origin_find(
        organization=automation_world.organization, connection=automation_world.zoho, object="lead", record=record
    )
    assert origin is None
