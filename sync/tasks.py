"""Sync tasks: thin; each loads by id and calls one service (routed to the `sync` queue by `sync.*`)."""

from __future__ import annotations

from celery import shared_task

from studios.models import Organization
from sync.services import sync_run

DUE_LOCK = "sync:due-task:lock"


@shared_task
def sync_run_task(organization_id: int, module: str) -> str:
    """Sync one module of one organization; a run already holding the lock makes this one 'skipped'."""
    organization = Organization.objects.unscoped().get(pk=organization_id)
    return sync_run(organization=organization, module=module).status


@shared_task
def sync_due_task() -> int:
    """Every minute (beat): enqueue each scheduled (organization, module) whose interval has passed, then open or
    close alert incidents. A cache lock keeps two overlapping beats from enqueueing or alerting twice."""
    from django.core.cache import cache
    from django.utils import timezone

    from sync.alerts import sync_alerts_check
    from sync.schedules import schedules_due

    if not cache.add(DUE_LOCK, "1", timeout=300):
        return 0
    try:
        now = timezone.now()
        due = schedules_due(now=now)
        for item in due:
            sync_run_task.delay(item.organization.pk, item.module)
        sync_alerts_check(now=now)
        return len(due)
    finally:
        cache.delete(DUE_LOCK)
