"""Acting on a link: confirm deletions, plan the recorded changes, send the writes, until done or out of time.

    report = link_apply(link)          # ApplyReport(planned, sent, failed, left)

One worker at a time per link (a lease on SyncLink.lease_token / lease_expires_at, which a crashed worker's lapses
by itself). The specs of both sides are read before any transaction (a CRM call), each chunk of changes is planned
in one transaction, and writes are sent outside transactions. When the budget runs out with work left the apply
task is queued again; once the first sync's changes and writes are all done, `first_sync_done_at` is set.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.errors import CrmError
from crm.registry import provider_for
from links.metadata import link_specs
from links.models import LinkChange, LinkObject, LinkWrite, Side, SyncLink
from links.planner import PlanCounts, changes_plan
from links.writer import writes_due, writes_send

logger = structlog.get_logger(__name__)

CONFIRM_BATCH = 100


@dataclass
class ApplyReport:
    planned: int = 0
    sent: int = 0
    failed: int = 0
    left: int = 0
    busy: bool = False  # another worker held the lease
    error: str = ""
    # What planning met: conflicts logged, records put up for review, owners with no counterpart (left out), values
    # the other side's field cannot take, changes waiting for a lookup's record to be linked.
    counts: PlanCounts = field(default_factory=PlanCounts)


def lease_take(link: SyncLink, *, seconds: int | None = None) -> str:
    """Take the link's lease; its token, or "" when another worker holds it."""
    now = timezone.now()
    token = str(uuid.uuid4())
    taken = (
        SyncLink.objects.unscoped()
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_token=""), pk=link.pk)
        .update(lease_token=token, lease_expires_at=now + timedelta(seconds=seconds or settings.LINKS_LEASE_SECONDS))
    )
    return token if taken else ""


def lease_renew(link: SyncLink, token: str) -> bool:
    expires = timezone.now() + timedelta(seconds=settings.LINKS_LEASE_SECONDS)
    return bool(SyncLink.objects.unscoped().filter(pk=link.pk, lease_token=token).update(lease_expires_at=expires))


def lease_release(link: SyncLink, token: str) -> None:
    SyncLink.objects.unscoped().filter(pk=link.pk, lease_token=token).update(lease_token="", lease_expires_at=None)


def changes_pending(link: SyncLink, *, now=None):
    """Changes to plan now: not processed, due, and not an unconfirmed deletion."""
    now = now or timezone.now()
    return LinkChange.objects.unscoped().filter(
        Q(due_at__isnull=True) | Q(due_at__lte=now),
        Q(operation=LinkChange.Operation.UPSERT) | Q(confirmed=True),
        link=link,
        processed_at__isnull=True,
    )


def deletions_unconfirmed(link: SyncLink):
    """Deletions seen only as records missing from a full read, not yet asked of the CRM."""
    return LinkChange.objects.unscoped().filter(
        link=link, processed_at__isnull=True, operation=LinkChange.Operation.DELETE, confirmed=False
    )


def deletions_confirm(link: SyncLink, *, limit: int = CONFIRM_BATCH) -> int:
    """Deletions seen only as records missing from a full read: asked of the CRM (outside transactions), many ids
    per call (`provider.records`). Gone -> confirmed; found -> dropped (the record lives). How many were settled."""
    unconfirmed = list(deletions_unconfirmed(link).order_by("id")[:limit])
    if not unconfirmed:
        return 0
    objects = {lo.pk: lo for lo in LinkObject.objects.unscoped().filter(link=link)}
    groups: dict[tuple[str, str], list[LinkChange]] = {}
    for change in unconfirmed:
        link_object = objects[change.link_object_id]
        object = link_object.object_a if change.side == Side.A else link_object.object_b
        groups.setdefault((change.side, object), []).append(change)
    settled: list[LinkChange] = []
    for (side, object), changes in groups.items():
        try:
            found = provider_for(link.connection(side)).records(
                object=object, record_ids=[change.external_id for change in changes]
            )
        except CrmError as exc:
            logger.info(
                "links.deletions_confirm_failed",
                link_id=link.pk,
                connection_id=link.connection(side).pk,
                error=str(exc),
            )
            continue
        alive = {record.id for record in found}
        for change in changes:
            if change.external_id in alive:
                change.processed_at = timezone.now()  # the record lives: nothing to do
            else:
                change.confirmed = True
            settled.append(change)
    LinkChange.objects.unscoped().bulk_update(settled, ["confirmed", "processed_at"])
    return len(settled)


def link_apply(link: SyncLink, *, budget_seconds: float | None = None) -> ApplyReport:
    """Act on a RUNNING link's recorded changes and due writes for at most `budget_seconds`
    (LINKS_APPLY_BUDGET_SECONDS); queues itself again when time ran out with work left."""
    report = ApplyReport()
    token = lease_take(link)
    if not token:
        report.busy = True
        return report
    budget = settings.LINKS_APPLY_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    out_of_time = False
    try:
        link.refresh_from_db()
        if link.state != SyncLink.State.RUNNING:
            return report
        try:
            specs = link_specs(link)
        except CrmError as exc:
            report.error = str(exc)
            logger.warning("links.apply_specs_failed", link_id=link.pk, error=str(exc))
            return report
        while True:
            deletions_confirm(link)
            chunk = list(changes_pending(link).order_by("id")[: settings.LINKS_PLAN_CHUNK])
            if chunk:
                with transaction.atomic():
                    report.planned += changes_plan(
                        link=link, changes=chunk, specs=specs, now=timezone.now(), counts=report.counts
                    )
            sent = writes_send(link=link)
            report.sent += sent
            lease_renew(link, token)
            if not chunk and not sent:
                break
            if time.monotonic() >= deadline:
                out_of_time = True
                break
        now = timezone.now()
        report.failed = (
            LinkWrite.objects.unscoped().filter(link=link, state=LinkWrite.State.FAILED, done_at__isnull=True).count()
        )
        report.left = changes_pending(link, now=now).count() + writes_due(link, now=now)
        if link.first_sync_done_at is None and not report.left:
            open_writes = LinkWrite.objects.unscoped().filter(
                link=link, state__in=[LinkWrite.State.PENDING, LinkWrite.State.SENDING]
            )
            if not open_writes.exists():
                SyncLink.objects.unscoped().filter(pk=link.pk, first_sync_done_at__isnull=True).update(
                    first_sync_done_at=now
                )
                link.first_sync_done_at = now
    finally:
        lease_release(link, token)
    if out_of_time and report.left:
        from links.tasks import links_apply_enqueue

        links_apply_enqueue(link.pk, force=True)
    return report
