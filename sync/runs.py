"""The life of a run, shared by the delta sync, the backfill and the reconciliation: run rows, the lock, progress.

    run, state = run_begin(organization=org, module="Leads", kind=SyncRun.Kind.DELTA)
    if state is not None:  # None: skipped (inactive organization, or another run holds the lock)
        ...  # read, then per batch: write and run_checkpoint(state=state, run=run, now=now, watermark=...)
        run_end(state=state, run=run, client=client, status=SyncRun.Status.OK)

One run at a time per (organization, module): the SyncState row is the lock, taken by a compare-and-swap UPDATE
with a lease the run renews with each checkpoint, so a crashed run frees it when the lease ends. A checkpoint is
written inside the batch's transaction, so the watermark moves only with a committed batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.limits import Priority
from studios.models import Organization, ProviderAccount
from sync.models import SyncRun, SyncState


class LockLost(RuntimeError):
    """Another run took the lock after this run's lease ran out; this run stops without writing more."""


class CountingClient(ZohoClient):
    """ZohoClient that adds up the credits of the calls Zoho answered, for the run row."""

    credits_used = 0

    def request(self, method: str, path: str, **kwargs: Any):
        response = super().request(method, path, **kwargs)
        self.credits_used += kwargs.get("cost", 1)
        return response


def run_client(*, organization: Organization, account: ProviderAccount | None = None) -> CountingClient:
    """The client a run reads with: the given account, else the organization's (default) Zoho CRM account."""
    return CountingClient(account=account or _crm_account(organization), priority=Priority.BACKGROUND)


def run_begin(*, organization: Organization, module: str, kind: str) -> tuple[SyncRun, SyncState | None]:
    """Create the run row and take the lock; no state when the run is skipped (already finished as such)."""
    now = timezone.now()
    run = SyncRun.objects.create(organization=organization, module=module, kind=kind, started_at=now)
    if not organization.is_active:
        run_finish(run=run, status=SyncRun.Status.SKIPPED, error="the organization is inactive")
        return run, None
    state = sync_state_get(organization=organization, module=module)
    if not run_lock_take(state=state, run=run, now=now):
        run_finish(run=run, status=SyncRun.Status.SKIPPED, error="another run holds the lock")
        return run, None
    state.refresh_from_db()
    return run, state


def sync_state_get(*, organization: Organization, module: str) -> SyncState:
    """The (organization, module) state row, created on first use."""
    scoped = SyncState.objects.for_organization(organization)
    try:
        return scoped.get_or_create(organization=organization, module=module)[0]
    except IntegrityError:  # created at the same moment by a concurrent run
        return scoped.get(module=module)


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
        raise LockLost(f"run {run.pk} lost the lock of {run.module}")
    for name, value in values.items():
        setattr(state, name, value)


def run_end(
    *,
    state: SyncState,
    run: SyncRun,
    client: ZohoClient | None,
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
        SyncState.objects.unscoped().filter(pk=state.pk, locked_by=run).update(
            locked_by=None, lease_expires_at=None, **done
        )
        run.refresh_from_db()
        run.watermark_after = SyncState.objects.unscoped().get(pk=state.pk).watermark
        run.credits_used = getattr(client, "credits_used", 0)
        run_finish(run=run, status=status, error=error)


def run_finish(*, run: SyncRun, status: str, error: str = "") -> None:
    """Close the run row with its status and error (cut to the column's 2,000 characters)."""
    run.status, run.error, run.finished_at = status, error[:2000], timezone.now()
    run.save()


def _crm_account(organization: Organization) -> ProviderAccount:
    accounts = ProviderAccount.objects.for_organization(organization).filter(kind="zoho_crm")
    account = accounts.filter(is_default=True).first() or (accounts.first() if accounts.count() == 1 else None)
    if account is None:
        raise ValueError(f"{organization} has no (default) Zoho CRM account")
    return account
