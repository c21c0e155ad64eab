"""Celery tasks of two-way sync: act on one link (queued by the mirror's receiver after its batch commits), and the
every-minute sweep of running links with work due (retries after a backoff, changes put back for later)."""

from __future__ import annotations

from celery import shared_task

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


def _queued_key(link_id: int) -> str:
    return f"links:apply-queued:{link_id}"


def links_apply_enqueue(link_id: int, *, force: bool = False) -> bool:
    """Queue links_apply_task once: a key set while it waits (deleted when it starts) drops the duplicates a burst
    of mirror batches would queue. True when queued."""
    if not cache.add(_queued_key(link_id), 1, timeout=settings.LINKS_LEASE_SECONDS) and not force:
        return False
    links_apply_task.delay(link_id)
    return True


@shared_task
def links_apply_task(link_id: int) -> str:
    from links.apply import link_apply
    from links.models import SyncLink

    cache.delete(_queued_key(link_id))
    link = SyncLink.objects.unscoped().filter(pk=link_id).select_related("connection_a", "connection_b").first()
    if link is None:
        return "gone"
    report = link_apply(link)
    return f"planned {report.planned}, sent {report.sent}, failed {report.failed}, left {report.left}"


@shared_task
def links_due_task() -> str:
    """Queue an apply of every running link with changes or writes due, then check the links' alerts."""
    from links.alerts import links_alerts_check
    from links.apply import changes_pending, deletions_unconfirmed
    from links.models import SyncLink
    from links.writer import writes_due

    now = timezone.now()
    running = [
        link.pk
        for link in SyncLink.objects.unscoped().filter(state=SyncLink.State.RUNNING)
        if changes_pending(link, now=now).exists() or deletions_unconfirmed(link).exists() or writes_due(link, now=now)
    ]
    queued = sum(links_apply_enqueue(link_id) for link_id in running)
    links_alerts_check()
    return f"queued {queued}"
