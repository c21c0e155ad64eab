"""Texts on the CRM timeline: each text sent or received is queued (one CrmTimelineEntry per message) for the
organization's CRM to show on the lead's or contact's record as a completed activity. Automation's flush
(automation/services/crm_timeline.py) logs the queue in batches; nothing here calls a CRM."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from django.db import transaction

from crm.connections import crm_connections
from messaging.models import CrmTimelineEntry, Message
from messaging.selectors import messaging_settings_get
from studios.models import Organization

logger = structlog.get_logger(__name__)


def crm_timeline_wanted(*, organization: Organization) -> bool:
    """Whether the organization's texts go on its CRM's timeline: the setting is on and a CRM is connected."""
    if not messaging_settings_get(organization=organization).crm_timeline_enabled:
        return False
    return crm_connections(organization=organization).exists()


def crm_timeline_queue(*, message: Message) -> CrmTimelineEntry | None:
    """Queue a saved text for its CRM timeline (idempotent: the message is unique); None when the organization
    does not log texts there. Call it in the transaction that saves the text (or marks it sent). It never fails
    its caller: a text received or sent matters more than its line on the timeline (a failure is logged, in a
    savepoint, so the caller's transaction goes on)."""
    try:
        with transaction.atomic():
            if not crm_timeline_wanted(organization=message.organization):
                return None
            entry, _ = CrmTimelineEntry.unscoped_objects.get_or_create(
                message=message, defaults={"organization_id": message.organization_id}
            )
            return entry
    except Exception:
        logger.exception("crm_timeline_queue_failed", message_id=message.pk)
        return None


def crm_timeline_queue_many(*, organization: Organization, message_ids: Iterable[int]) -> int:
    """Queue texts saved in bulk (a provider's polled logs); those already queued are left alone. Returns how many
    were new. Never fails its caller (as crm_timeline_queue)."""
    ids = list(dict.fromkeys(message_ids))
    if not ids:
        return 0
    try:
        with transaction.atomic():
            if not crm_timeline_wanted(organization=organization):
                return 0
            ids = list(Message.objects.for_organization(organization).filter(pk__in=ids).values_list("pk", flat=True))
            queued = CrmTimelineEntry.objects.for_organization(organization).filter(message_id__in=ids)
            before = queued.count()
            rows = [CrmTimelineEntry(organization=organization, message_id=message_id) for message_id in ids]
            CrmTimelineEntry.unscoped_objects.bulk_create(rows, ignore_conflicts=True)
            return queued.count() - before
    except Exception:
        logger.exception("crm_timeline_queue_failed", messages=len(ids))
        return 0


def crm_timeline_retry(*, entries) -> int:
    """Try again texts that failed or were skipped (or wait), once a person fixed the cause (reconnected the CRM,
    added the Task Type value): pending, due now, tries counted from zero. `entries`: a queryset already scoped to
    the person's organization. Logged ones are left alone. Returns how many will be tried."""
    return entries.exclude(status=CrmTimelineEntry.Status.DONE).update(
        status=CrmTimelineEntry.Status.PENDING, attempts=0, next_attempt_at=None, last_error=""
    )
