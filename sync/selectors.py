"""Reads of the CRM mirror: records, the last runs per object and how far each object lags behind its CRM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studios.models import Organization
from sync.content import MirrorKey
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from sync.objects import object_name


@dataclass
class ObjectStatus:
    """One object of one organization: its watermark, its lag, and its latest run."""

    object: str
    watermark: datetime | None
    lag_seconds: float | None
    last_run: SyncRun | None
    running: bool
    change_tracked: bool = False  # mirrored through the CRM's change tracking (it holds a change token)


def sync_runs_recent(
    *, organization: Organization, object: str | None = None, limit: int = 10, module: str | None = None
) -> list[SyncRun]:
    """The organization's latest runs, newest first (of one object when given; `module`: the former keyword)."""
    runs = SyncRun.objects.for_organization(organization)
    if object or module:
        runs = runs.filter(object=object_name(object or module or ""))
    return list(runs.order_by("-started_at", "-id")[:limit])


def sync_status_list(
    *, organization: Organization, objects: list[str] | None = None, modules: list[str] | None = None
) -> list[ObjectStatus]:
    """Per object: the watermark, the lag (since the last ok run started), the latest run, whether one runs now."""
    now = timezone.now()
    states: dict[str, SyncState] = {}
    for state in SyncState.objects.for_organization(organization).order_by("pk"):
        states.setdefault(state.object, state)
    result = []
    wanted = [object_name(name) for name in [*(objects or []), *(modules or [])]]
    for name in dict.fromkeys([*wanted, *states]):
        state = states.get(name)
        watermark = state.watermark if state else None
        running = bool(state and state.locked_by_id and state.lease_expires_at and state.lease_expires_at > now)
        last = sync_runs_recent(organization=organization, object=name, limit=1)
        ok = SyncRun.objects.for_organization(organization).filter(object=name, status=SyncRun.Status.OK)
        ok = ok.exclude(kind=SyncRun.Kind.NOTIFICATION)  # a few ids: not "every change before it is mirrored"
        fresh = ok.order_by("-started_at").values_list("started_at", flat=True).first()
        # Lag: the mirror holds every change made before the last ok run started (a quiet CRM is not "behind").
        lag = (now - fresh).total_seconds() if fresh else None
        tracked = bool(state and (state.change_token or state.checkpoint_token))
        result.append(ObjectStatus(name, watermark, lag, last[0] if last else None, running, tracked))
    return result


def crm_record_get(
    *,
    organization: Organization,
    object: str = "",
    external_id: str = "",
    connection_id: int | None = None,
    module: str = "",
    **former_id: str,
) -> CrmRecord | None:
    """The mirrored record (None when the mirror lacks it or the CRM deleted it), e.g. for the widget's CRM context.
    `object` may be the CRM's own name (Leads); `module` and the record id under its former keyword (one keyword
    argument ending in _id) are still accepted from callers not yet moved to `object` / `external_id`."""
    if not external_id and len(former_id) == 1:
        external_id = next(iter(former_id.values()))
    elif former_id:
        raise TypeError(f"crm_record_get() got unexpected keyword arguments {sorted(former_id)}")
    records = CrmRecord.objects.for_organization(organization).filter(deleted_at__isnull=True)
    if connection_id is not None:
        records = records.filter(connection_id=connection_id)
    return records.filter(object=object_name(object or module), external_id=str(external_id)).first()


def crm_records_by_phone(*, organization: Organization, e164: str) -> QuerySet[CrmRecord]:
    """Mirrored (not deleted) records with a phone field equal to `e164`: no CRM call needed."""
    phones = CrmPhone.objects.for_organization(organization).filter(
        e164=e164,
        connection_id=OuterRef("connection_id"),
        object=OuterRef("object"),
        external_id=OuterRef("external_id"),
    )
    return CrmRecord.objects.for_organization(organization).filter(Exists(phones), deleted_at__isnull=True)


@dataclass(frozen=True)
class StoredVersion:
    """What the mirror holds of a record: enough to tell whether an incoming read is newer."""

    modified_time: datetime
    content_hash: str
    deleted_at: datetime | None


# Each id probes the unique index (LATERAL ... OFFSET 0 keeps it a nested loop of lookups by the whole key): an
# `IN (...)` list is planned from statistics, and while they are missing or stale (a first load) the planner may
# read the index by (organization, connection, object) alone and filter the ids, i.e. every stored record of the
# object per batch. Table and column names are ours.
_VERSIONS_SQL = (
    "SELECT held.external_id, held.modified_time, held.content_hash, held.deleted_at "  # noqa: S608
    "FROM unnest(%s::text[]) AS batch(external_id) CROSS JOIN LATERAL ("
    f"SELECT external_id, modified_time, content_hash, deleted_at FROM {CrmRecord._meta.db_table} "
    "WHERE organization_id = %s AND connection_id = %s AND object = %s AND external_id = batch.external_id "
    "OFFSET 0) AS held"
)


def crm_record_versions(*, key: MirrorKey, external_ids: list[str]) -> dict[str, StoredVersion]:
    """The stored versions of those of `external_ids` the mirror holds (deleted ones too), by external id."""
    if not external_ids:
        return {}
    if connection.vendor == "postgresql" and key.connection_id is not None:
        with connection.cursor() as cursor:
            cursor.execute(_VERSIONS_SQL, [list(external_ids), key.organization_id, key.connection_id, key.object])
            rows = cursor.fetchall()
    else:  # SQLite (the embedded default) reads the unique index for an IN list.
        rows = (
            CrmRecord.objects.unscoped()
            .filter(**key.values(), external_id__in=list(external_ids))
            .values_list("external_id", "modified_time", "content_hash", "deleted_at")
        )
    return {external_id: StoredVersion(modified, digest, deleted) for external_id, modified, digest, deleted in rows}
