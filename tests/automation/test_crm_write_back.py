"""Opt-out changes reach the CRM's opt-out field (SMS_Opt_Out by default) on the lead with that phone."""

from __future__ import annotations

import pytest

from automation.services.crm_write_back import crm_write_backs_flush
from messaging.models import CrmWriteBack
from messaging.services.opt_out import opt_out_set

pytestmark = pytest.mark.django_db(transaction=True)


def write_backs(world):
    return CrmWriteBack.objects.for_organization(world.organization)


def lead_in_sandbox(world, lead_id: str) -> dict:
    return world.control("GET", f"/_sandbox/zoho/Leads/{lead_id}")


def test_stop_from_a_lead_sets_its_opt_out_field_in_zoho_and_start_clears_it(automation_world):
    lead = automation_world.lead_create(First_Name="Sam", Mobile="+14155559010")
    automation_world.wait_for_events(1)
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="STOP", sender="+14155559010")
    assert crm_write_backs_flush() == 1
    assert lead_in_sandbox(automation_world, lead["id"])["SMS_Opt_Out"] is True
    assert write_backs(automation_world).get().status == CrmWriteBack.Status.DONE
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="START", sender="+14155559010")
    assert crm_write_backs_flush() == 1
    assert lead_in_sandbox(automation_world, lead["id"])["SMS_Opt_Out"] is False


def test_an_unlinked_phone_is_found_by_search(automation_world):
    lead = automation_world.lead_create(First_Name="Una", Mobile="+14155559011", Owner={"id": "4150868000000225001"})
    automation_world.wait_for_events(1)  # the manager owns it: no studio, no text, so no link to the contact
    opt_out_set(organization=automation_world.organization, phone="+14155559011", state="opted_out", source="manual")
    assert crm_write_backs_flush() == 1
    assert lead_in_sandbox(automation_world, lead["id"])["SMS_Opt_Out"] is True


def test_a_phone_with_no_crm_record_is_skipped_with_a_reason(automation_world):
    opt_out_set(organization=automation_world.organization, phone="+14155559012", state="opted_out", source="manual")
    crm_write_backs_flush()
    write_back = write_backs(automation_world).get()
    assert write_back.status == CrmWriteBack.Status.SKIPPED
    assert "no lead or contact" in write_back.last_error


def test_zoho_down_keeps_the_write_back_pending(automation_world):
    opt_out_set(organization=automation_world.organization, phone="+14155559013", state="opted_out", source="manual")
    automation_world.fault(path="/search$", status=503, times=0)
    assert crm_write_backs_flush() == 0
    write_back = write_backs(automation_world).get()
    assert write_back.status == CrmWriteBack.Status.PENDING
    assert write_back.attempts == 1
