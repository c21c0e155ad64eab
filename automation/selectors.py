"""Reads of lead automation: settings with their defaults, the CRM account, work that is due."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q

from automation.models import AutomationSettings, LeadIntake, ReplyFollowUp, StudioAutomation
from studios.models import Membership, Organization, ProviderAccount, Studio


def automation_settings_get(*, organization: Organization) -> AutomationSettings:
    """The organization's settings; an organization that never saved any gets the defaults (unsaved)."""
    found = AutomationSettings.objects.for_organization(organization).first()
    return found or AutomationSettings(organization=organization)


def studio_automation_get(*, studio: Studio) -> StudioAutomation:
    found = StudioAutomation.objects.for_organization(studio.organization).filter(studio=studio).first()
    return found or StudioAutomation(studio=studio)


def crm_account_get(*, organization: Organization) -> ProviderAccount | None:
    """The organization's Zoho CRM account: the default one, or the only one."""
    accounts = ProviderAccount.objects.for_organization(organization).filter(kind="zoho_crm")
    default = accounts.filter(is_default=True).first()
    if default is not None:
        return default
    only = list(accounts[:2])
    return only[0] if len(only) == 1 else None


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


def owner_membership_get(*, organization: Organization, zoho_user_id: str) -> Membership | None:
    if not zoho_user_id:
        return None
    return (
        Membership.objects.for_organization(organization)
        .filter(zoho_user_id=zoho_user_id, is_active=True)
        .prefetch_related("studios")
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
        .exclude(zoho_lead_id="")
        .order_by("-created_at")
        .first()
    )
