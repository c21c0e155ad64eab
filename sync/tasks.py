"""Sync tasks: thin; each loads by id and calls one service (routed to the `sync` queue by `sync.*`)."""

from __future__ import annotations

from celery import shared_task

from crm.connections import crm_connection_get, crm_connection_of
from studios.models import Organization, ProviderAccount
from sync.backfill import backfill_due, backfill_run
from sync.delta import sync_run
from sync.reconcile import reconcile_run

DUE_LOCK = "sync:due-task:lock"


def _connection(organization: Organization, connection_id: int | None) -> ProviderAccount | None:
    """The connection a task names (tasks queued before connections existed name none: the default one)."""
    if connection_id is None:
        return crm_connection_get(organization=organization)
    return crm_connection_of(organization=organization, connection_id=connection_id)


@shared_task
def sync_run_task(organization_id: int, object: str, connection_id: int | None = None) -> str:
    """Sync one object of one organization's connection: a backfill if it never loaded (or a backfill is
    unfinished), else the delta sync; a run already holding the lock makes this one 'skipped'."""
    organization = Organization.objects.unscoped().get(pk=organization_id)
    connection = _connection(organization, connection_id)
    if connection is None:
        return "skipped"
    if backfill_due(organization=organization, connection=connection, object=object):
        return backfill_run(organization=organization, connection=connection, object=object).status
    return sync_run(organization=organization, connection=connection, object=object).status


@shared_task
def reconcile_task(organization_id: int, object: str, connection_id: int | None = None) -> str:
    """Reconcile one object of one organization's connection (every record read again, ids the CRM no longer has
    marked deleted); skipped while a run holds the lock."""
    organization = Organization.objects.unscoped().get(pk=organization_id)
    connection = _connection(organization, connection_id)
    if connection is None:
        return "skipped"
    return reconcile_run(organization=organization, connection=connection, object=object).status


@shared_task
def sync_due_task() -> int:
    """Every minute (beat): enqueue each scheduled (organization, connection, object) whose interval has passed and
    each one due for a full reconciliation (not in the same beat as its delta run: one would skip on the lock), then
    open or close alert incidents. A cache lock keeps two overlapping beats from enqueueing or alerting twice."""
    from django.core.cache import cache
    from django.utils import timezone

    from sync.alerts import sync_alerts_check
    from sync.schedules import reconciliations_due, schedules_due

    if not cache.add(DUE_LOCK, "1", timeout=300):
        return 0
    try:
        now = timezone.now()
        due = schedules_due(now=now)
        for item in due:
            sync_run_task.delay(item.organization.pk, item.object, item.connection.pk)
        syncing = {item.key for item in due}
        reconciling = [item for item in reconciliations_due(now=now) if item.key not in syncing]
        for item in reconciling:
            reconcile_task.delay(item.organization.pk, item.object, item.connection.pk)
        sync_alerts_check(now=now)
        return len(due) + len(reconciling)
    finally:
        cache.delete(DUE_LOCK)


@shared_task(bind=True, max_retries=4)
def notification_event_process_task(self, event_id: int) -> str:
    """Mirror the records one recorded change notification names; a failure is retried with backoff, then left to
    the inbound-events sweep (and the delta sync catches up whatever is never fetched)."""
    from core.webhooks import inbound_event_process

    outcome = inbound_event_process(event_id=event_id)
    if outcome == "retry" and self.request.retries < self.max_retries:
        raise self.retry(countdown=min(2 ** (self.request.retries + 1), 60))
    return outcome


@shared_task
def channels_renew_due_task() -> int:
    """Every 30 minutes (beat): create, renew or re-enable each CRM connection's change-feed channel."""
    from sync.notifications import channels_renew_due

    return channels_renew_due()
