"""The change feed's callbacks, recorded by sync/webhooks.py: each names ids of one object that changed, which a
`notification` run reads from the CRM and upserts (or marks deleted). The channels they come through are
sync/notifications.py's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import structlog

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.models import InboundEvent
from core.webhooks import EventFlagged, processor
from crm.connections import crm_connection_get, crm_connections
from crm.errors import CrmQuotaExhausted
from crm.provider import CrmProvider
from crm.records import ChangeOperation
from crm.registry import registered
from studios.models import Organization, ProviderAccount
from sync.content import MirrorKey
from sync.models import NotificationChannel, SyncRun
from sync.notifications import mirrored_objects
from sync.objects import object_name
from sync.reads import records_by_ids
from sync.runs import run_credits, run_provider
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)

SOURCE_SUFFIX = ".notification"  # an event's source is "<kind>.notification"
# A provider reads an object's field specs once per instance; callbacks come in bursts, so one is kept this long.
PROVIDER_KEEP_SECONDS = 300
FETCH_CHUNK = 100
# The former payload's operations (events recorded before notifications were CRM-neutral).
FORMER_OPERATIONS = {"insert": ChangeOperation.CREATED, "update": ChangeOperation.UPDATED}
FORMER_OPERATIONS["delete"] = ChangeOperation.DELETED


def event_source(kind: str) -> str:
    return f"{kind}{SOURCE_SUFFIX}"


def notification_event_enqueue(event_id: int) -> None:
    """Start processing a recorded callback on the `sync` queue. A lost publish is left to the inbound-events
    sweep, which republishes the event after a minute."""
    from sync.tasks import notification_event_process_task

    try:
        notification_event_process_task.delay(event_id)
    except Exception:
        logger.exception("sync.notifications.enqueue_failed", event_id=event_id)


def notification_event_process(event: InboundEvent) -> None:
    """Mirror what one callback names: read the ids (created, updated) or mark them deleted, in a notification run.

    No run lock: a delta run of the same object may be writing at the same moment, and that is safe, because
    every write is the guarded upsert (a row changes only for a newer modified time, or the same one with other
    content), so whichever read is older loses. Taking the lock would make notifications wait behind (or skip
    during) a delta run of minutes, which defeats them. Nothing here touches SyncState: the watermark and the
    checkpoint belong to the delta run, so a notification can never make it skip a record."""
    organization = event.organization
    if organization is None or not organization.is_active:
        return
    payload = event.payload
    connection = _payload_connection(organization, payload)
    name = str(payload.get("object") or "") or object_name(str(payload.get("module") or ""), connection=connection)
    raw_operation = str(payload.get("operation") or "")
    operation = FORMER_OPERATIONS.get(raw_operation) or _operation(raw_operation)
    listed = payload.get("ids") if isinstance(payload.get("ids"), list) else []
    ids = list(dict.fromkeys(str(value) for value in listed if str(value)))
    now = timezone.now()
    NotificationChannel.objects.for_organization(organization).filter(connection=connection).update(
        last_notified_at=now
    )
    run = SyncRun.objects.create(
        organization=organization,
        connection=connection,
        object=name[:100],
        kind=SyncRun.Kind.NOTIFICATION,
        started_at=now,
    )
    if connection is None or name not in mirrored_objects(organization=organization, connection=connection):
        reason = f"object {name!r} is not mirrored for this organization"
        _run_finish(run, SyncRun.Status.FAILED, reason)
        raise EventFlagged(reason)
    if operation is None or not ids:
        reason = f"nothing to do: operation {raw_operation!r}, {len(ids)} record ids"
        _run_finish(run, SyncRun.Status.FAILED, reason)
        raise EventFlagged(reason)
    key = MirrorKey(organization.pk, connection.pk, name)
    if operation == ChangeOperation.DELETED:
        deleted_at = _moment(payload.get("occurred_at")) or _moment_ms(payload.get("server_time")) or now
        with transaction.atomic():
            marked = crm_records_mark_deleted(key=key, deletions=dict.fromkeys(ids, deleted_at), run_id=run.pk, now=now)
        SyncRun.objects.for_organization(organization).filter(pk=run.pk).update(deleted=marked)
        _run_finish(run, SyncRun.Status.OK)
        return
    provider: CrmProvider | None = None
    credits_before = 0
    try:
        provider = _provider(organization, connection)
        credits_before = run_credits(provider)
        missing = _records_fetch(provider, run, key, ids)
    except CrmQuotaExhausted as exc:
        # The CRM's allocation is used up: retrying the event only spends what frees first. Left to the delta sync,
        # which reads these records once the object's pause is over.
        logger.warning("sync.notifications.paused", run_id=run.pk, crm_object=name, error=str(exc))
        reason = f"API allocation used up: left to the next delta run ({exc})"
        _run_finish(run, SyncRun.Status.PAUSED, reason, run_credits(provider) - credits_before)
        return
    except Exception as exc:
        logger.exception("sync.notifications.run_failed", run_id=run.pk, crm_object=name)
        _run_finish(run, SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}", run_credits(provider) - credits_before)
        raise  # the event is retried; the delta sync catches up whatever is never fetched
    note = ""
    if missing:
        # Deleted (or merged) since the CRM notified: the deletions pass of the next delta run marks them.
        note = f"{len(missing)} of {len(ids)} ids not found in the CRM: {', '.join(missing[:20])}"
        logger.info("sync.notifications.ids_missing", run_id=run.pk, missing=missing[:20])
    _run_finish(run, SyncRun.Status.OK, note, run_credits(provider) - credits_before)


def processors_register() -> None:
    """Every CRM kind's callbacks ("<kind>.notification") are processed here (called by the app's ready())."""
    for kind in registered():
        processor(event_source(kind))(notification_event_process)


def _payload_connection(organization: Organization, payload: dict[str, Any]) -> ProviderAccount | None:
    connection_id = payload.get("connection_id")
    if isinstance(connection_id, int):
        return crm_connections(organization=organization).filter(pk=connection_id).first()
    return crm_connection_get(organization=organization)  # recorded before channels belonged to a connection


def _operation(value: str) -> ChangeOperation | None:
    try:
        return ChangeOperation(value)
    except ValueError:
        return None


_PROVIDERS: dict[int, tuple[float, CrmProvider]] = {}


def _provider(organization: Organization, connection: ProviderAccount) -> CrmProvider:
    """The connection's provider, kept for PROVIDER_KEEP_SECONDS in this process: it reads an object's field specs
    once, and a burst of callbacks should not pay for them each time."""
    kept = _PROVIDERS.get(connection.pk)
    if kept is not None and kept[0] > time.monotonic() and kept[1].connection.kind == connection.kind:
        return kept[1]
    provider = run_provider(organization=organization, connection=connection)
    _PROVIDERS[connection.pk] = (time.monotonic() + PROVIDER_KEEP_SECONDS, provider)
    return provider


def _records_fetch(provider: CrmProvider, run: SyncRun, key: MirrorKey, ids: list[str]) -> list[str]:
    """Read the ids and upsert them, FETCH_CHUNK at a time; returns the ids the CRM no longer has."""
    missing: list[str] = []
    for start in range(0, len(ids), FETCH_CHUNK):
        found, gone = records_by_ids(provider=provider, object=run.object, ids=ids[start : start + FETCH_CHUNK])
        missing += gone
        with transaction.atomic():
            result = crm_records_upsert(key=key, records=found, run_id=run.pk, now=timezone.now())
            SyncRun.objects.unscoped().filter(pk=run.pk).update(  # the run row of the organization being written
                inserted=F("inserted") + result.inserted,
                updated=F("updated") + result.updated,
                quarantined=F("quarantined") + result.quarantined,
            )
    return missing


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _moment_ms(value: Any) -> datetime | None:
    """A former payload's time: milliseconds since the epoch."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _run_finish(run: SyncRun, status: str, error: str = "", credits: int = 0) -> None:
    SyncRun.objects.unscoped().filter(pk=run.pk).update(  # the run this process created
        status=status, error=error[:2000], finished_at=timezone.now(), credits_used=max(credits, 0)
    )
