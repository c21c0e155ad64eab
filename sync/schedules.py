"""Which (organization, module) pairs are scheduled, and which of them are due for a run.

An organization with a Zoho CRM account syncs every `SYNC_MODULES` module every `DEFAULT_INTERVAL_MINUTES`;
a `SyncSchedule` row overrides one module (its interval, or off) and can add a module not in `SYNC_MODULES`.
A pair is due when its last run (any status) started at least one interval ago, or it never ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max

from automation.selectors import crm_account_get
from studios.models import Organization
from sync.models import SyncRun, SyncSchedule, SyncState

DEFAULT_INTERVAL_MINUTES = 15


@dataclass(frozen=True)
class Scheduled:
    """One enabled (organization, module) and its interval; `schedule` is its row, if it has one."""

    organization: Organization
    module: str
    interval_minutes: int
    schedule: SyncSchedule | None = None

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.interval_minutes)


def schedules_enabled() -> list[Scheduled]:
    """Every enabled (organization, module) of every active organization: rows, then defaults for the rest."""
    rows: dict[int, dict[str, SyncSchedule]] = {}
    for row in SyncSchedule.objects.unscoped().select_related("organization").order_by("pk"):
        rows.setdefault(row.organization_id, {})[row.module] = row
    scheduled: list[Scheduled] = []
    for organization in Organization.objects.unscoped().filter(is_active=True).order_by("pk"):
        own = rows.get(organization.pk, {})
        has_crm: bool | None = None
        for module in [*settings.SYNC_MODULES, *sorted(set(own) - set(settings.SYNC_MODULES))]:
            row = own.get(module)
            if row is not None:
                if row.is_enabled:
                    scheduled.append(Scheduled(organization, module, max(row.interval_minutes, 1), row))
                continue
            if has_crm is None:
                has_crm = crm_account_get(organization=organization) is not None
            if has_crm:
                scheduled.append(Scheduled(organization, module, DEFAULT_INTERVAL_MINUTES))
    return scheduled


def last_run_starts(*, exclude_kinds: tuple[str, ...] = ()) -> dict[tuple[int, str], datetime]:
    """When the newest run of each (organization id, module) started, not counting runs of `exclude_kinds`."""
    runs = SyncRun.objects.unscoped().exclude(kind__in=exclude_kinds) if exclude_kinds else SyncRun.objects.unscoped()
    latest = runs.values("organization_id", "module").annotate(last=Max("started_at"))
    return {(row["organization_id"], row["module"]): row["last"] for row in latest.order_by()}


def schedules_due(*, now: datetime) -> list[Scheduled]:
    """The enabled pairs whose last run started at least one interval before `now` (or that never ran). A daily
    reconciliation does not push the next delta run back, nor do notification runs (a few ids each, as often as
    records change: counted, they would postpone the delta sync, their safety net, for as long as edits go on)."""
    starts = last_run_starts(exclude_kinds=(SyncRun.Kind.RECONCILE, SyncRun.Kind.NOTIFICATION))
    due = []
    for item in schedules_enabled():
        last = starts.get((item.organization.pk, item.module))
        if last is None or last <= now - item.interval:
            due.append(item)
    return due


def reconciliations_due(*, now: datetime) -> list[Scheduled]:
    """The enabled pairs already synced once (they have a watermark) whose last successful reconciliation is older
    than `SYNC_RECONCILE_HOURS`, or that never had one. One that failed or was skipped is tried again one interval
    after it started, not every minute."""
    states = {
        (row["organization_id"], row["module"]): row["reconciled_at"]
        for row in SyncState.objects.unscoped()  # every organization: the beat schedules them all
        .filter(watermark__isnull=False)
        .values("organization_id", "module", "reconciled_at")
    }
    attempts = {
        (row["organization_id"], row["module"]): row["last"]
        for row in SyncRun.objects.unscoped()  # every organization, as above
        .filter(kind=SyncRun.Kind.RECONCILE)
        .values("organization_id", "module")
        .annotate(last=Max("started_at"))
        .order_by()
    }
    oldest = now - timedelta(hours=settings.SYNC_RECONCILE_HOURS)
    due = []
    for item in schedules_enabled():
        key = (item.organization.pk, item.module)
        if key not in states or (states[key] is not None and states[key] > oldest):
            continue
        attempt = attempts.get(key)
        if attempt is None or attempt <= now - item.interval:
            due.append(item)
    return due
