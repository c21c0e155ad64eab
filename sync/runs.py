"""The life of a run, shared by the delta sync, the backfill and the reconciliation: run rows, the lock, progress.

    provider = run_provider(organization=org)  # the organization's (default) CRM connection's provider
    run, state = run_begin(organization=org, connection=provider.connection, object="lead", kind=SyncRun.Kind.DELTA)
    if state is not None:  # None: skipped (inactive organization, or another run holds the lock)
        ...  # read, then per batch: write and run_checkpoint(state=state, run=run, now=now, watermark=...)
        run_end(state=state, run=run, provider=provider, status=SyncRun.Status.OK)

One run at a time per (organization, connection, object): the SyncState row is the lock, taken by a compare-and-swap
UPDATE with a lease the run renews with each checkpoint, so a crashed run frees it when the lease ends. A checkpoint is
written inside the batch's transaction, so the watermark moves only with a committed batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.connections import crm_connection_get
from crm.errors import CrmQuotaExhausted
from crm.provider import CrmProvider
from crm.records import Priority
from crm.registry import provider_for
from studios.models import Organization, ProviderAccount
from sync.content import MirrorKey
from sync.models import SyncRun, SyncState


class LockLost(RuntimeError):
    """Another run took the lock after this run's lease ran out; this run stops without writing more."""


class NoConnection(ValueError):
    """The organization has no CRM connection to sync (none, or several and no default)."""


def run_connection(*, organization: Organization, connection: ProviderAccount | None = None) -> ProviderAccount:
    """The connection a run reads: the given one, else the organization's default (or only) CRM connection."""
    connection = connection or crm_connection_get(organization=organization)
    if connection is None:
        raise NoConnection(f"{organization} has no (default) CRM connection")
    return connection


def run_provider(*, organization: Organization, connection: ProviderAccount | None = None) -> CrmProvider:
    """The provider a run reads with: the given connection's, else the organization's default connection's."""
    return provider_for(run_connection(organization=organization, connection=connection), priority=Priority.BACKGROUND)


def run_key(run: SyncRun) -> MirrorKey:
    return MirrorKey(organization_id=run.organization_id, connection_id=run.connection_id, object=run.object)


def run_begin(
    *, organization: Organization, connection: ProviderAccount, object: str, kind: str
) -> tuple[SyncRun, SyncState | None]:
    """Create the run row and take the lock; no state when the run is skipped (already finished as such)."""
    now = timezone.now()
    run = SyncRun.objects.create(
        organization=organization, connection=connection, object=object, kind=kind, started_at=now
    )
    if not organization.is_active:
        run_finish(run=run, status=SyncRun.Status.SKIPPED, error="the organization is inactive")
        return run, None
    state = sync_state_get(organization=organization, connection=connection, object=object)
    if not run_lock_take(state=state, run=run, now=now):
        run_finish(run=run, status=SyncRun.Status.SKIPPED, error="another run holds the lock")
        return run, None
    state.refresh_from_db()
    return run, state


def sync_state_get(*, organization: Organization, connection: ProviderAccount, object: str) -> SyncState:
    """The (organization, connection, object) state row, created on first use."""
    scoped = SyncState.objects.for_organization(organization)
    try:
        return scoped.get_or_create(organization=organization, connection=connection, object=object)[0]
    except IntegrityError:  # created at the same moment by a concurrent run
        return scoped.get(connection=connection, object=object)


def run_lock_take(*, state: SyncState, run: SyncRun, now: datetime) -> bool:
    """Compare-and-swap: free or expired -> ours. A crashed holder's run row is marked failed."""
    free = Q(locked_by__isnull=True) | Q(lease_expires_at__lt=now)
    with transaction.atomic():
        row = SyncState.objects.unscoped().select_for_update().filter(pk=state.pk).filter(free).first()
        if row is None:
            return False
        crashed = row.locked_by_id
        # Conditional again: SQLite has no SELECT ... FOR UPDATE, so the UPDATE itself is the compare-and-swap.
        taken = (
            SyncState.objects.unscoped()
            .filter(free, pk=state.pk)
            .update(locked_by=run, lease_expires_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
        )
        if not taken:
            return False
        if crashed:
            SyncRun.objects.unscoped().filter(pk=crashed, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED, finished_at=now, error="lease expired: the run died without finishing"
            )
    return True


def run_checkpoint(*, state: SyncState, run: SyncRun, now: datetime, **values: Any) -> None:
    """Record progress and renew the lease, inside the batch's transaction; LockLost rolls the batch back."""
    values["lease_expires_at"] = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    if not SyncState.objects.unscoped().filter(pk=state.pk, locked_by=run).update(**values):
        raise LockLost(f"run {run.pk} lost the lock of {run.object}")
    for name, value in values.items():
        setattr(state, name, value)


def run_end(
    *,
    state: SyncState,
    run: SyncRun,
    provider: CrmProvider | None,
    status: str,
    error: str = "",
    keep_checkpoint: bool = False,
    **state_values: Any,
) -> None:
    """Release the lock; an ok run clears the checkpoint, a failed one leaves it for the next run to resume.
    A run that does not read by Modified_Time (a reconciliation) keeps it; `state_values` are set with the release."""
    with transaction.atomic():
        clear = status == SyncRun.Status.OK and not keep_checkpoint
        done = {"checkpoint_time": None, "checkpoint_id": "", **state_values} if clear else dict(state_values)
        if status == SyncRun.Status.OK:  # the CRM answered a whole run: whatever paused the object is over
            done = {"paused_until": None, "paused_reason": "", **done}
        SyncState.objects.unscoped().filter(pk=state.pk, locked_by=run).update(
            locked_by=None, lease_expires_at=None, **done
        )
        run.refresh_from_db()
        run.watermark_after = SyncState.objects.unscoped().get(pk=state.pk).watermark
        run.credits_used = run_credits(provider)
        run_finish(run=run, status=status, error=error)


def run_finish(*, run: SyncRun, status: str, error: str = "") -> None:
    """Close the run row with its status and error (cut to the column's 2,000 characters)."""
    run.status, run.error, run.finished_at = status, error[:2000], timezone.now()
    run.save()


def run_credits(provider: CrmProvider | None) -> int:
    """The API credits the provider's calls cost, when its CRM counts them (0 otherwise)."""
    return int(getattr(provider, "credits_used", 0) or 0)


def run_pause(*, state: SyncState, run: SyncRun, provider: CrmProvider | None, exc: CrmQuotaExhausted) -> None:
    """End a run the CRM stopped because the org's API allocation is used up: what it wrote stays (the checkpoint is
    kept for the next run to resume from), and the object is not scheduled again until the CRM said it frees up
    (`retry_after`; SYNC_QUOTA_WAIT_SECONDS when it did not say). The run and the dashboard say until when."""
    wait = exc.retry_after if exc.retry_after and exc.retry_after > 0 else settings.SYNC_QUOTA_WAIT_SECONDS
    until = timezone.now() + timedelta(seconds=wait)
    reason = f"API allocation used up until {until:%Y-%m-%d %H:%M} UTC: {exc}"
    run_end(
        state=state,
        run=run,
        provider=provider,
        status=SyncRun.Status.PAUSED,
        error=reason,
        paused_until=until,
        paused_reason=reason[:300],
    )
