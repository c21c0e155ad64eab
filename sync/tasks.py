"""Sync tasks: thin; each loads by id and calls one service (routed to the `sync` queue by `sync.*`)."""

from __future__ import annotations

from celery import shared_task

from studios.models import Organization
from sync.services import sync_run


@shared_task
def sync_run_task(organization_id: int, module: str) -> str:
    """Sync one module of one organization; a run already holding the lock makes this one 'skipped'."""
    organization = Organization.objects.unscoped().get(pk=organization_id)
    return sync_run(organization=organization, module=module).status
