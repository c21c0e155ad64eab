"""Delta sync of one (organization, module) from Zoho into the mirror.

    run = sync_run(organization=org, module="Leads")

One run at a time per (organization, module): the SyncState row is the lock, taken by a compare-and-swap UPDATE
with a lease the run renews per batch, so a crashed run frees it when the lease ends. No database transaction is
open during a Zoho call: records are read, then each batch is written, checkpointed and counted in one short
transaction. The watermark moves only with a committed batch; a run that died leaves its checkpoint, and the next
run resumes from it minus the overlap (see `_where`) instead of from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import sentry_sdk

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from studios.models import Organization, ProviderAccount
from sync.mapping import ModuleMapping, crm_record_map, display_field_of, module_mapping_build
from sync.models import SyncRun, SyncState
from sync.upsert import crm_records_mark_deleted, crm_records_upsert
from sync.views_sql import mirror_view_refresh_quietly
from zoho.client import ZohoClient
from zoho.limits import Priority

logger = logging.getLogger(__name__)
IN_LIMIT = 100  # COQL `in` takes at most 100 values (v7+)


class LockLost(RuntimeError):
    """Another run took the lock after this run's lease ran out; this run stops without writing more."""


class CountingClient(ZohoClient):
    """ZohoClient that adds up the credits of the calls Zoho answered, for the run row."""

    credits_used = 0

    def request(self, method: str, path: str, **kwargs: Any):
        response = super().request(method, path, **kwargs)
        self.credits_used += kwargs.get("cost", 1)
        return response


def sync_run(
    *, organization: Organization, module: str, account: ProviderAccount | None = None, client: ZohoClient | None = None
) -> SyncRun:
    """Sync one module of one organization now; returns the run (ok, failed, or skipped if one is running)."""
    now = timezone.now()
    run = SyncRun.objects.create(organization=organization, module=module, started_at=now)
    if not organization.is_active:
        _run_finish(run, status=SyncRun.Status.SKIPPED, error="the organization is inactive")
        return run
    state = _state_get(organization, module)
    if not _lock_take(state, run, now):
        _run_finish(run, status=SyncRun.Status.SKIPPED, error="another run holds the lock")
        return run
    state.refresh_from_db()
    run.watermark_before = state.watermark
    run.resumed = state.checkpoint_time is not None
    run.save(update_fields=["watermark_before", "resumed"])
    try:
        if client is None:
            client = CountingClient(account=account or _crm_account(organization), priority=Priority.BACKGROUND)
        mapping = _records_sync(client, state, run)
        _deletions_sync(client, state, run)
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:  # the Sentry event of this log line says which run failed
            scope.set_tag("organization", organization.slug)
            scope.set_tag("module", module)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.run.failed", extra={"run_id": run.pk, "zoho_module": module})
        _run_end(state, run, client, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        return run
    _run_end(state, run, client, status=SyncRun.Status.OK)
    mirror_view_refresh_quietly(mapping=mapping)  # one query unless the module's standard fields changed
    _channel_check(run)
    return run


def _channel_check(run: SyncRun) -> None:
    """Changes a live notification channel should have announced: is it still there at Zoho? (sync/notifications.py)"""
    from sync.notifications import channel_check_after_run

    note = channel_check_after_run(run=run)
    if note:
        run.error = note[:2000]
        SyncRun.objects.unscoped().filter(pk=run.pk).update(error=run.error)  # the run this call made


def module_mapping_get(
    *, client: ZohoClient, module: str, metadata: list[dict[str, Any]] | None = None
) -> ModuleMapping:
    """The module's mapping from its metadata (read here unless given); the name field of each lookup target
    comes from its metadata."""
    if metadata is None:
        metadata = client.fields_get(module=module)
    targets = {
        ((meta.get("lookup") or {}).get("module") or {}).get("api_name") for meta in metadata if meta.get("lookup")
    }
    display_fields = {module: display_field_of(metadata)}
    for target in sorted(name for name in targets if name and name not in display_fields):
        display_fields[target] = display_field_of(client.fields_get(module=target))
    currency = ""
    if any(str(meta.get("data_type")) == "currency" for meta in metadata):
        currency = str(client.org_get().get("iso_code") or "")
    return module_mapping_build(module=module, metadata=metadata, display_fields=display_fields, currency_code=currency)


# --- the run -------------------------------------------------------------------------------------------------
def _records_sync(client: ZohoClient, state: SyncState, run: SyncRun) -> ModuleMapping:
    mapping = module_mapping_get(client=client, module=run.module)
    columns = mapping.columns
    width = max(settings.SYNC_COQL_MAX_COLUMNS - 1, 1)  # coql_iter adds Modified_Time
    first, rest = columns[:width], [columns[start : start + width] for start in range(width, len(columns), width)]
    where, page_size = _where(state), settings.SYNC_COQL_PAGE_SIZE
    # max_reach=0: keyset pages on (Modified_Time, id) from the first page. OFFSET pages skip records: a record
    # edited mid-run leaves its place, every later record moves up one, and the next OFFSET misses one of them.
    rows = client.coql_iter(module=run.module, fields=first, where=where, page_size=page_size, max_reach=0)
    for batch in _batches(rows, settings.SYNC_BATCH_SIZE):
        for extra in rest:
            _columns_merge(client, run.module, batch, extra)
        mapped = [
            crm_record_map(mapping=mapping, record=row, region=settings.SYNC_PHONE_DEFAULT_REGION) for row in batch
        ]
        last = batch[-1]
        now = timezone.now()
        with transaction.atomic():
            result = crm_records_upsert(
                organization_id=run.organization_id, module=run.module, records=mapped, run_id=run.pk, now=now
            )
            moment = mapped[-1].modified_time
            watermark = max(filter(None, [state.watermark, moment]))  # the overlap re-reads older records
            _checkpoint(state, run, now, checkpoint_time=moment, checkpoint_id=str(last["id"]), watermark=watermark)
            SyncRun.objects.unscoped().filter(pk=run.pk).update(
                inserted=F("inserted") + result.inserted,
                updated=F("updated") + result.updated,
                quarantined=F("quarantined") + result.quarantined,
            )
    return mapping


def _deletions_sync(client: ZohoClient, state: SyncState, run: SyncRun) -> None:
    since = (
        state.deleted_watermark - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS) if state.deleted_watermark else None
    )
    deletions: dict[str, datetime] = {}
    for item in client.deleted_records(module=run.module, type="all", since=since):
        moment = datetime.fromisoformat(item["deleted_time"])
        deletions[str(item["id"])] = moment
    newest = max(deletions.values(), default=None)
    now = timezone.now()
    with transaction.atomic():
        marked = crm_records_mark_deleted(
            organization_id=run.organization_id, module=run.module, deletions=deletions, run_id=run.pk, now=now
        )
        extra = {"deleted_watermark": max(filter(None, [newest, state.deleted_watermark]))} if newest else {}
        _checkpoint(state, run, now, **extra)
        SyncRun.objects.unscoped().filter(pk=run.pk).update(deleted=F("deleted") + marked)


def _where(state: SyncState) -> str | None:
    """The COQL condition: from a crashed run's checkpoint, else from the watermark, minus the overlap either way."""
    if state.checkpoint_time is not None:
        # Not exactly after (checkpoint time, id): the keyset skips a record edited in the second its cursor was
        # in (same Modified_Time, lower id), and only the overlap re-reads it. The dead run's lease keeps the next
        # run out for minutes of further edits, whose Modified_Times carry the watermark past any overlap after.
        return f"Modified_Time >= {_literal(state.checkpoint_time - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS))}"
    if state.watermark is None:
        return None
    return f"Modified_Time >= {_literal(state.watermark - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS))}"


def _literal(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).replace(microsecond=0).isoformat() + "'"


def records_read_by_ids(
    client: ZohoClient, module: str, mapping: ModuleMapping, ids: list[str]
) -> list[dict[str, Any]]:
    """Records by id with every mapped column: COQL `id in` (100 at a time), wide modules in several queries merged
    by id. Modified_Time is in the first query: the merge keeps the row's own, so it must come from there."""
    columns = ["Modified_Time", *[name for name in mapping.columns if name not in ("id", "Modified_Time")]]
    width = max(settings.SYNC_COQL_MAX_COLUMNS, 1)
    first, *rest = [columns[start : start + width] for start in range(0, len(columns), width)]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), IN_LIMIT):
        chunk = [record_id for record_id in ids[start : start + IN_LIMIT] if record_id.isdigit()]
        if not chunk:
            continue
        listed = ", ".join(f"'{record_id}'" for record_id in chunk)
        query = f"select {', '.join(first)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        fetched = (client.coql(query=query, limit=IN_LIMIT) or {}).get("data") or []
        for extra in rest:
            _columns_merge(client, module, fetched, extra)
        rows.extend(fetched)
    return rows


def _columns_merge(client: ZohoClient, module: str, batch: list[dict[str, Any]], columns: list[str]) -> None:
    """Columns one query cannot carry, read by id and merged in. A record edited in between gives newer values
    here, but its new Modified_Time also puts it past the cursor, so it is read (and written) again later."""
    by_id = {str(row["id"]): row for row in batch}
    ids = list(by_id)
    for start in range(0, len(ids), IN_LIMIT):
        chunk = ids[start : start + IN_LIMIT]
        listed = ", ".join(f"'{record_id}'" for record_id in chunk if record_id.isdigit())
        query = f"select {', '.join(columns)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        body = client.coql(query=query, limit=IN_LIMIT) or {}
        for row in body.get("data") or []:
            # The page's Modified_Time stays: it is the cursor's, and the checkpoint and watermark are taken from
            # it. A newer one from here would move them past records the cursor has not reached yet.
            row.pop("Modified_Time", None)
            by_id.get(str(row.get("id")), {}).update(row)


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


# --- state, lock, run rows -----------------------------------------------------------------------------------
def _state_get(organization: Organization, module: str) -> SyncState:
    scoped = SyncState.objects.for_organization(organization)
    try:
        return scoped.get_or_create(organization=organization, module=module)[0]
    except IntegrityError:  # created at the same moment by a concurrent run
        return scoped.get(module=module)


def _lock_take(state: SyncState, run: SyncRun, now: datetime) -> bool:
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


def _checkpoint(state: SyncState, run: SyncRun, now: datetime, **values: Any) -> None:
    """Record progress and renew the lease, inside the batch's transaction; LockLost rolls the batch back."""
    values["lease_expires_at"] = now + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    if not SyncState.objects.unscoped().filter(pk=state.pk, locked_by=run).update(**values):
        raise LockLost(f"run {run.pk} lost the lock of {run.module}")
    for name, value in values.items():
        setattr(state, name, value)


def _run_end(
    state: SyncState,
    run: SyncRun,
    client: ZohoClient | None,
    *,
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
        _run_finish(run, status=status, error=error)


def _run_finish(run: SyncRun, *, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error[:2000], timezone.now()
    run.save()


def _crm_account(organization: Organization) -> ProviderAccount:
    accounts = ProviderAccount.objects.for_organization(organization).filter(kind="zoho_crm")
    account = accounts.filter(is_default=True).first() or (accounts.first() if accounts.count() == 1 else None)
    if account is None:
        raise ValueError(f"{organization} has no (default) Zoho CRM account")
    return account
