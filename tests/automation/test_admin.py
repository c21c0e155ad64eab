"""The automation admin keeps every manager inside their own organization: settings (with the webhook URL),
studio follow-ups, lead intakes with their step log, replies, and the "needs attention" page."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from django.urls import reverse

from automation.models import AutomationSettings, AutomationStep, LeadIntake, ReplyFollowUp, StudioAutomation
from automation.services.settings import automation_webhook_token_rotate
from tests.messaging.factories import MessageFactory

PAGES = ["automationsettings", "studioautomation", "leadintake", "replyfollowup"]


@dataclass
class Automation:
    tenant: object
    settings: AutomationSettings
    studio_automation: StudioAutomation
    intake: LeadIntake
    reply: ReplyFollowUp
    url: str

    def obj(self, page: str):
        return {
            "automationsettings": self.settings,
            "studioautomation": self.studio_automation,
            "leadintake": self.intake,
            "replyfollowup": self.reply,
        }[page]


def build(tenant, marker: str) -> Automation:
    org = tenant.organization
    url = automation_webhook_token_rotate(organization=org)
    intake = LeadIntake.unscoped_objects.create(
        organization=org,
        connection=tenant.zoho,
        crm_record_id=f"41508680000{len(marker):08d}",
        studio=tenant.studio,
        lead_name=f"Lead {marker}",
        status=LeadIntake.Status.NEEDS_ATTENTION,
        attention_reason=f"reason-{marker}",
    )
    AutomationStep.unscoped_objects.create(
        organization=org,
        lead_intake=intake,
        step="studio_resolved",
        outcome="failed",
        detail=f"step-{marker}",
        at=intake.created_at,
    )
    message = MessageFactory(studio=tenant.studio, body="YES")
    reply = ReplyFollowUp.unscoped_objects.create(
        organization=org,
        studio=tenant.studio,
        message=message,
        status=ReplyFollowUp.Status.NEEDS_ATTENTION,
        attention_reason=f"reply-{marker}",
    )
    return Automation(
        tenant=tenant,
        settings=AutomationSettings.objects.for_organization(org).get(),
        studio_automation=StudioAutomation.unscoped_objects.create(studio=tenant.studio),
        intake=intake,
        reply=reply,
        url=url,
    )


@pytest.fixture
def a(tenant_a):
    return build(tenant_a, "alpha-one")


@pytest.fixture
def b(tenant_b):
    return build(tenant_b, "bravo")


def admin_url(page: str, view: str, *args) -> str:
    return reverse(f"admin:automation_{page}_{view}", args=args)


@pytest.mark.parametrize("page", PAGES)
def test_a_manager_lists_only_their_organization(client, a, b, page):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url(page, "changelist"))
    assert response.status_code == 200
    assert b.tenant.organization.name not in response.content.decode()
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == {a.obj(page).pk}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_another_organizations_objects_are_not_found(client, a, b, page, view):
    client.force_login(a.tenant.manager.user)
    for method in ("get", "post"):
        response = getattr(client, method)(admin_url(page, view, b.obj(page).pk))
        assert response.status_code in (302, 403, 404)
        if response.status_code == 302:
            assert response.url == reverse("admin:index")


@pytest.mark.parametrize("page", PAGES)
def test_staff_have_no_admin(client, a, page):
    client.force_login(a.tenant.staff.user)
    response = client.get(admin_url(page, "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url


def test_operators_see_every_organization(client, operator, a, b):
    client.force_login(operator)
    response = client.get(admin_url("leadintake", "changelist"))
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == {a.intake.pk, b.intake.pk}


def test_the_needs_attention_page_shows_only_the_managers_organization(client, a, b):
    client.force_login(a.tenant.manager.user)
    page = client.get(reverse("admin:automation_attention")).content.decode()
    assert "reason-alpha-one" in page
    assert "reply-alpha-one" in page
    assert "reason-bravo" not in page
    assert "reply-bravo" not in page


def test_the_step_log_of_a_lead_is_shown_with_it(client, a):
    client.force_login(a.tenant.manager.user)
    page = client.get(admin_url("leadintake", "change", a.intake.pk)).content.decode()
    assert "step-alpha-one" in page


def test_the_settings_page_shows_the_organizations_own_webhook_url(client, a, b):
    client.force_login(a.tenant.manager.user)
    page = client.get(admin_url("automationsettings", "change", a.settings.pk)).content.decode()
    assert a.url in page
    assert b.url not in page


def test_a_manager_cannot_point_studio_automation_at_another_organizations_studio(client, a, b):
    client.force_login(a.tenant.manager.user)
    response = client.post(
        admin_url("studioautomation", "change", a.studio_automation.pk),
        {"studio": b.tenant.studio.pk, "send_welcome": "on", "task_due_days": 1, "follow_up_message": "Hi"},
    )
    assert response.status_code == 200  # the form refuses the choice
    a.studio_automation.refresh_from_db()
    assert a.studio_automation.studio == a.tenant.studio


def test_try_again_puts_a_lead_back_in_the_queue(client, a, monkeypatch):
    from automation.services import intake as intake_service

    queued = []
    monkeypatch.setattr(intake_service, "lead_intake_enqueue", lambda pk, countdown=None: queued.append(pk))
    client.force_login(a.tenant.manager.user)
    client.post(admin_url("leadintake", "changelist"), {"action": "try_again", "_selected_action": [a.intake.pk]})
    a.intake.refresh_from_db()
    assert a.intake.status == LeadIntake.Status.WAITING
    assert queued == [a.intake.pk]
