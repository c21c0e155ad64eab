"""Reads of the CRM mirror: the last runs per module and how far each module lags behind Zoho."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studios.models import Organization
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState


@dataclass
class ModuleStatus:
    """One module of one organization: its watermark, its lag, and its latest run."""

    module: str
    watermark: datetime | None
    lag_seconds: float | None
    last_run: SyncRun | None
    running: bool


def sync_runs_recent(*, organization: Organization, module: str | None = None, limit: int = 10) -> list[SyncRun]:
    """The organization's latest runs, newest first."""
    runs = SyncRun.objects.for_organization(organization)
    if module:
        runs = runs.filter(module=module)
    return list(runs.order_by("-started_at", "-id")[:limit])


def sync_status_list(*, organization: Organization, modules: list[str]) -> list[ModuleStatus]:
    """Per module: the watermark, the lag (since the last ok run started), the latest run, whether one runs now."""
    now = timezone.now()
    states = {state.module: state for state in SyncState.objects.for_organization(organization)}
    result = []
    for module in dict.fromkeys([*modules, *states]):
        state = states.get(module)
        watermark = state.watermark if state else None
        running = bool(state and state.locked_by_id and state.lease_expires_at and state.lease_expires_at > now)
        last = sync_runs_recent(organization=organization, module=module, limit=1)
        ok = SyncRun.objects.for_organization(organization).filter(module=module, status=SyncRun.Status.OK)
        ok = ok.exclude(kind=SyncRun.Kind.NOTIFICATION)  # a few ids: not "every change before it is mirrored"
        fresh = ok.order_by("-started_at").values_list("started_at", flat=True).first()
        # Lag: the mirror holds every change made before the last ok run started (a quiet CRM is not "behind").
        lag = (now - fresh).total_seconds() if fresh else None
        result.append(ModuleStatus(module, watermark, lag, last[0] if last else None, running))
    return result


def crm_record_get(*, organization: Organization, module: str, zoho_id: str) -> CrmRecord | None:
    """The mirrored record (None when the mirror lacks it or Zoho deleted it), e.g. for the widget's CRM context."""
    records = CrmRecord.objects.for_organization(organization).filter(deleted_at__isnull=True)
    return records.filter(module=module, zoho_id=zoho_id).first()


def crm_records_by_phone(*, organization: Organization, e164: str) -> QuerySet[CrmRecord]:
    """Mirrored (not deleted) records with a phone field equal to `e164`: no Zoho call needed."""
    phones = CrmPhone.objects.for_organization(organization).filter(
        e164=e164, module=OuterRef("module"), zoho_id=OuterRef("zoho_id")
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
# read the index by (organization, module) alone and filter the ids, i.e. every stored record of the module per
# batch. Table and column names are ours.
_VERSIONS_SQL = (
    "SELECT held.zoho_id, held.modified_time, held.content_hash, held.deleted_at "  # noqa: S608
    "FROM unnest(%s::text[]) AS batch(zoho_id) CROSS JOIN LATERAL ("
    f"SELECT zoho_id, modified_time, content_hash, deleted_at FROM {CrmRecord._meta.db_table} "
    "WHERE organization_id = %s AND module = %s AND zoho_id = batch.zoho_id OFFSET 0) AS held"
)


def crm_record_versions(*, organization_id: int, module: str, zoho_ids: list[str]) -> dict[str, StoredVersion]:
    """The stored versions of those of `zoho_ids` the mirror holds (deleted ones too), by zoho id."""
    if not zoho_ids:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_VERSIONS_SQL, [list(zoho_ids), organization_id, module])
            rows = cursor.fetchall()
    else:  # SQLite (the embedded default) reads the unique index for an IN list.
        rows = (
            CrmRecord.objects.unscoped()
            .filter(organization_id=organization_id, module=module, zoho_id__in=list(zoho_ids))
            .values_list("zoho_id", "modified_time", "content_hash", "deleted_at")
        )
    return {zoho_id: StoredVersion(modified, digest, deleted) for zoho_id, modified, digest, deleted in rows}
