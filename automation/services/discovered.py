"""New leads the CRM mirror found before (or without) the CRM's new-lead call: the safety net behind the webhook.

A CRM's new-lead call (a workflow rule's webhook, a flow's HTTP callout: docs/automation.md) can be switched off,
misconfigured or lost. The mirror's delta sync announces the leads new to it (crm.hooks `on_records_discovered`,
never in a first load); for each one created recently that has no intake yet, an intake is created marked as found
by the mirror and WAITING one sync interval for the call. If the call comes meanwhile, the webhook starts that
intake at once (the unique key allows no second one); otherwise the due sweep (automation_due_task) runs it when its
wait is over, and its step log says the CRM's call never came. Only organizations that set up lead automation (saved
settings, switched on, a webhook URL issued) get these: a CRM connection alone never texts anyone. A CRM that posts
app events (Capability.APP_EVENTS) needs no webhook URL of ours: saved settings, switched on, are the set-up there.

A record of the lead object the CRM says is no lead (`not_a_lead_reason`: e.g. a contact in a customer stage) gets
an intake finished at once, skipped with the reason: no wait, no task, no text, and the log says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from automation.models import AutomationSettings, LeadIntake
from automation.services.common import lead_full_name, step_record
from crm.errors import CrmError
from crm.provider import CrmProvider
from crm.records import CanonicalRecord, Capability
from crm.registry import provider_for
from studios.models import Organization, ProviderAccount

logger = structlog.get_logger(__name__)

CALL_MISSING = "the CRM's new-lead call never came; found by the mirror"
EXTRA_AGE = timedelta(hours=1)


def discovered_lead_max_age(*, sync_interval: timedelta) -> timedelta:
    """How old a lead found by the mirror may be and still be treated as new: the setting, else two sync intervals
    (the longest a new lead takes to reach the mirror, a run late included) plus an hour of slack."""
    minutes = settings.AUTOMATION_DISCOVERED_LEAD_MAX_AGE_MINUTES
    return timedelta(minutes=minutes) if minutes > 0 else 2 * sync_interval + EXTRA_AGE


def lead_intakes_discovered(
    *,
    organization: Organization,
    connection: ProviderAccount,
    records: Sequence[CanonicalRecord],
    sync_interval: timedelta,
    now: datetime | None = None,
) -> list[LeadIntake]:
    """An intake, waiting for the CRM's call, for each recent lead among `records` that has none; returns them."""
    automation = AutomationSettings.objects.for_organization(organization).first()
    if automation is None or not automation.is_enabled:
        return []
    try:
        provider = provider_for(connection)
    except CrmError:
        provider = None
    app_events = provider is not None and provider.supports(Capability.APP_EVENTS)
    if not automation.webhook_token_digest and not app_events:
        return []
    now = now or timezone.now()
    oldest = now - discovered_lead_max_age(sync_interval=sync_interval)
    # A lead without a created time cannot be told from an old one: left alone (never text old leads).
    recent = [record for record in records if record.created_time is not None and record.created_time >= oldest]
    if not recent:
        return []
    known = set(
        LeadIntake.objects.for_organization(organization)
        .filter(connection=connection, crm_record_id__in=[record.id for record in recent])
        .values_list("crm_record_id", flat=True)
    )
    due = now + sync_interval
    created = []
    for record in recent:
        created_at = record.created_time.astimezone(UTC)
        if record.id in known:
            continue
        why = _not_a_lead(provider, record)
        try:
            with transaction.atomic():
                intake = LeadIntake.unscoped_objects.create(
                    organization=organization,
                    connection=connection,
                    crm_record_id=record.id,
                    status=LeadIntake.Status.DONE if why else LeadIntake.Status.WAITING,
                    source=LeadIntake.Source.MIRROR,
                    next_attempt_at=None if why else due,
                    completed_at=now if why else None,
                    lead_name=lead_full_name(record)[:200],
                )
                found = f"the mirror found lead {record.id} (created {created_at:%Y-%m-%d %H:%M} UTC)"
                if why:
                    step_record(
                        organization=organization,
                        lead_intake=intake,
                        step="not_a_lead",
                        outcome="skipped",
                        detail=f"{found}; not a lead: {why}; no task and no text",
                    )
                else:
                    step_record(
                        organization=organization,
                        lead_intake=intake,
                        step="found_by_mirror",
                        outcome="retry",
                        detail=(
                            f"{found} before the CRM's new-lead call; waiting for that call until "
                            f"{due:%Y-%m-%d %H:%M} UTC"
                        ),
                    )
        except IntegrityError:  # the call came between the read above and this insert: its intake is the one
            continue
        created.append(intake)
    return created


def _not_a_lead(provider: CrmProvider | None, record: CanonicalRecord) -> str:
    """Why the CRM says this record of the lead object is no lead ("" when it is one, or nobody can say)."""
    if provider is None:
        return ""
    try:
        return provider.not_a_lead_reason(record=record)
    except CrmError:
        logger.exception("discovered_lead_check_failed", record_id=record.id)
        return ""  # the intake checks again when it loads the lead
