"""Which (organization, connection, object) triples are scheduled, and which of them are due for a run.

Every CRM connection of an active organization syncs every `SYNC_MODULES` object every `DEFAULT_INTERVAL_MINUTES`;
a `SyncSchedule` row overrides one object of one connection (its interval, or off) and can add an object not in
`SYNC_MODULES`. A triple is due when its last run (any status) started at least one interval ago, or it never ran,
and it is not paused (its CRM's API allocation used up: `SyncState.paused_until` still ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from crm.connections import crm_connections
from studios.models import Organization, ProviderAccount
from sync.models import SyncRun, SyncSchedule, SyncState
from sync.objects import configured_objects

DEFAULT_INTERVAL_MINUTES = 15


@dataclass(frozen=True)
class Scheduled:
    """One enabled (organization, connection, object) and its interval; `schedule` is its row, if it has one."""

    organization: Organization
    connection: ProviderAccount
    object: str
    interval_minutes: int
    schedule: SyncSchedule | None = None

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.organization.pk, self.connection.pk, self.object)


def schedules_enabled() -> list[Scheduled]:
    """Every enabled (organization, connection, object) of every active organization: rows, then defaults."""
    rows: dict[tuple[int, int | None], dict[str, SyncSchedule]] = {}
    for row in SyncSchedule.objects.unscoped().select_related("organization").order_by("pk"):
        rows.setdefault((row.organization_id, row.connection_id), {})[row.object] = row
    scheduled: list[Scheduled] = []
    for organization in Organization.objects.unscoped().filter(is_active=True).order_by("pk"):
        for connection in crm_connections(organization=organization):
            own = rows.get((organization.pk, connection.pk), {})
            defaults = configured_objects(connection=connection)
            for name in [*defaults, *sorted(set(own) - set(defaults))]:
                row = own.get(name)
                if row is None:
                    scheduled.append(Scheduled(organization, connection, name, DEFAULT_INTERVAL_MINUTES))
                elif row.is_enabled:
                    scheduled.append(Scheduled(organization, connection, name, max(row.interval_minutes, 1), row))
    return scheduled


def schedule_interval(*, organization: Organization, connection: ProviderAccount, object: str) -> timedelta:
    """How often one (organization, connection, object) is synced: its schedule row's interval, else the default."""
    row = (
        SyncSchedule.objects.for_organization(organization)
        .filter(connection=connection, object=object)
        .only("interval_minutes")
        .first()
    )
    return timedelta(minutes=max(row.interval_minutes, 1) if row is not None else DEFAULT_INTERVAL_MINUTES)


def paused_keys(*, now: datetime) -> dict[tuple[int, int | None, str], tuple[datetime, str]]:
    """The (organization id, connection id, object) triples paused until a moment after `now`: until when, why."""
    rows = (
        SyncState.objects.unscoped()  # every organization: the beat schedules them all
        .filter(paused_until__gt=now)
        .values_list("organization_id", "connection_id", "object", "paused_until", "paused_reason")
    )
    return {(org_id, connection_id, name): (until, why) for org_id, connection_id, name, until, why in rows}


def last_run_starts(*, exclude_kinds: tuple[str, ...] = ()) -> dict[tuple[int, int | None, str], datetime]:
    """When the newest run of each (organization id, connection id, object) started, not counting runs of
    `exclude_kinds`."""
    runs = SyncRun.objects.unscoped().exclude(kind__in=exclude_kinds) if exclude_kinds else SyncRun.objects.unscoped()
    latest = runs.values("organization_id", "connection_id", "object").annotate(last=Max("started_at"))
    return {(row["organization_id"], row["connection_id"], row["object"]): row["last"] for row in latest.order_by()}


def schedules_due(*, now: datetime) -> list[Scheduled]:
    """The enabled triples whose last run started at least one interval before `now` (or that never ran). A daily
    reconciliation does not push the next delta run back, nor do notification runs (a few ids each, as often as
    records change: counted, they would postpone the delta sync, their safety net, for as long as edits go on)."""
    starts = last_run_starts(exclude_kinds=(SyncRun.Kind.RECONCILE, SyncRun.Kind.NOTIFICATION))
    paused = paused_keys(now=now)
    due = []
    for item in schedules_enabled():
        if item.key in paused:
            continue
        last = starts.get(item.key)
        if last is None or last <= now - item.interval:
            due.append(item)
    return due


def reconciliations_due(*, now: datetime) -> list[Scheduled]:
    """The enabled triples already synced once (they have a watermark) whose last successful reconciliation is older
    than `SYNC_RECONCILE_HOURS`, or that never had one. One that failed or was skipped is tried again one interval
    after it started, not every minute."""
    states = {
        (row["organization_id"], row["connection_id"], row["object"]): row["reconciled_at"]
        for row in SyncState.objects.unscoped()  # every organization: the beat schedules them all
        .filter(watermark__isnull=False)
        .values("organization_id", "connection_id", "object", "reconciled_at")
    }
    attempts = {
        (row["organization_id"], row["connection_id"], row["object"]): row["last"]
        for row in SyncRun.objects.unscoped()  # every organization, as above
        .filter(kind=SyncRun.Kind.RECONCILE)
        .values("organization_id", "connection_id", "object")
        .annotate(last=Max("started_at"))
        .order_by()
    }
    oldest = now - timedelta(hours=settings.SYNC_RECONCILE_HOURS)
    paused = paused_keys(now=now)
    due = []
    for item in schedules_enabled():
        key = item.key
        if key in paused or key not in states or (states[key] is not None and states[key] > oldest):
            continue
        attempt = attempts.get(key)
        if attempt is None or attempt <= now - item.interval:
            due.append(item)
    return due
