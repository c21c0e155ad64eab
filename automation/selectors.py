"""Reads of lead automation: settings with their defaults, the CRM connection a lead comes from, work that is due."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q

from automation.models import AutomationSettings, LeadIntake, ReplyFollowUp, StudioAutomation
from crm.connections import crm_connection_get, crm_connection_of
from crm.registry import UnknownCrm, provider_class
from studios.models import Organization, ProviderAccount, Studio


def automation_settings_get(*, organization: Organization) -> AutomationSettings:
    """The organization's settings; an organization that never saved any gets the defaults (unsaved)."""
    found = AutomationSettings.objects.for_organization(organization).first()
    return found or AutomationSettings(organization=organization)


def studio_automation_get(*, studio: Studio) -> StudioAutomation:
    found = StudioAutomation.objects.for_organization(studio.organization).filter(studio=studio).first()
    return found or StudioAutomation(studio=studio)


def lead_connection_get(
    *, organization: Organization, kind: str, connection_id: int | None = None
) -> ProviderAccount | None:
    """The organization's connection to a CRM of provider `kind` (e.g. the kind in the new-lead webhook's URL): its
    default one, or its only one; with `connection_id` (an app event routed to its account), that connection, only
    if it is one of this organization's and of that CRM."""
    try:
        served = provider_class(kind)
    except UnknownCrm:
        return None
    if connection_id is not None:
        found = crm_connection_of(organization=organization, connection_id=connection_id)
        if found is None or found.kind not in (kind, *served.connection_kinds):
            return None
        return found
    for connection_kind in dict.fromkeys((kind, *served.connection_kinds)):
        found = crm_connection_get(organization=organization, kind=connection_kind)
        if found is not None:
            return found
    return None


def studio_by_name(*, organization: Organization, value: str) -> Studio | None:
    """A studio named by a CRM field: its name or slug, ignoring case and surrounding spaces."""
    text = (value or "").strip()
    if not text:
        return None
    return (
        Studio.objects.for_organization(organization)
        .filter(is_active=True)
        .filter(Q(name__iexact=text) | Q(slug__iexact=text))
        .first()
    )


def lead_intakes_due(*, now, limit: int = 200) -> list[int]:
    """Intakes whose wait is over, and new ones whose task never ran (the broker was down after the webhook)."""
    waiting = Q(status=LeadIntake.Status.WAITING, next_attempt_at__lte=now)
    stuck = Q(status=LeadIntake.Status.RECEIVED, created_at__lt=now - timedelta(minutes=2))
    return list(
        LeadIntake.objects.unscoped()
        .filter(waiting | stuck)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )


def replies_due(*, now, limit: int = 200) -> list[int]:
    """Replies whose wait is over, and new ones whose task never ran."""
    waiting = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - timedelta(minutes=2))
    return list(
        ReplyFollowUp.objects.unscoped()
        .filter(waiting, status=ReplyFollowUp.Status.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def lead_intake_for_phone(*, organization: Organization, phone: str) -> LeadIntake | None:
    """The newest intake of a lead with this phone (a reply can beat the contact's link to its lead)."""
    return (
        LeadIntake.objects.for_organization(organization)
        .filter(lead_phone=phone)
        .exclude(crm_record_id="")
        .select_related("connection")
        .order_by("-created_at")
        .first()
    )
