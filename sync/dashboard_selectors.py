"""Reads for the operator dashboard (`/ops/sync/`): per-object health of the CRM mirror, recent errors, quarantine.

Scoped in one place (`_scoped`): a manager sees their organization through `.visible_to(manager)`; an operator
sees every organization through `.unscoped()`, optionally narrowed to one. A fixed number of queries whatever the
number of runs: the runs of the last 24 h are read once and grouped in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from studios.models import Membership, Organization
from sync.dashboard_sections import SectionShown, dashboard_sections_read
from sync.models import CrmQuarantine, NotificationChannel, SyncRun, SyncState
from sync.tracked import RESYNC_NOTE

WINDOW = timedelta(hours=24)
SPARK_WIDTH, SPARK_HEIGHT = 240, 40
BAR_WIDTH = 240
ERRORS_LIMIT = 20
QUARANTINE_LIMIT = 50


@dataclass
class ObjectHealth:
    """One (organization, object): its last 24 h of runs, drawn as numbers ready for SVG."""

    organization_id: int
    organization_name: str
    object: str
    ok: int = 0
    failed: int = 0
    other: int = 0
    # Notification runs (a handful of ids each, many a day) are counted apart: mixed in, they would drown the
    # scheduled runs' bars and sparkline and make a object whose delta sync fails look healthy.
    notifications: int = 0
    notifications_failed: int = 0
    durations: list[tuple[datetime, float]] = field(default_factory=list)
    watermark: datetime | None = None
    watermark_lag_seconds: float | None = None
    last_ok_started_at: datetime | None = None
    credits_today: int = 0
    # The CRM's API allocation is used up: no run before this moment (SyncState.paused_until), and the CRM's words.
    paused_until: datetime | None = None
    paused_reason: str = ""
    # Mirrored through the CRM's change tracking (SyncState.change_token), and the newest note of the last 24 h
    # saying its changes were lost to the CRM and every record was read again (sync/tracked.py).
    change_tracked: bool = False
    resync_note: str = ""
    resync_at: datetime | None = None
    # SVG geometry (numbers only; the template writes them as attributes, autoescaped).
    spark_points: list[tuple[float, float]] = field(default_factory=list)
    ok_width: float = 0.0
    failed_width: float = 0.0
    max_duration_seconds: float = 0.0

    @property
    def runs(self) -> int:
        return self.ok + self.failed + self.other


@dataclass
class SyncDashboard:
    objects: list[ObjectHealth]
    errors: list[SyncRun]
    quarantine: list[CrmQuarantine]
    quarantine_total: int
    organizations: list[Organization]
    channels: list[NotificationChannel]
    since: datetime
    now: datetime
    # What other apps show on the page (sync/dashboard_sections.py), e.g. the two-way sync links.
    sections: list[SectionShown] = field(default_factory=list)


def _scoped(queryset: QuerySet, *, manager: Membership | None, organization: Organization | None) -> QuerySet:
    """A manager's organization, or (operator: manager is None) every organization or the one chosen."""
    if manager is not None:
        return queryset.visible_to(manager)
    queryset = queryset.unscoped()  # operators see every tenant; the caller has checked is_operator
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    return queryset


def sync_dashboard_get(
    *, manager: Membership | None, organization: Organization | None = None, now: datetime | None = None
) -> SyncDashboard:
    """The dashboard for a manager (their organization) or, with `manager=None`, an operator (all or one org)."""
    now = now or timezone.now()
    since = now - WINDOW
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    scope = {"manager": manager, "organization": organization}
    objects: dict[tuple[int, str], ObjectHealth] = {}

    def health(org_id: int, org_name: str, object: str) -> ObjectHealth:
        key = (org_id, object)
        if key not in objects:
            objects[key] = ObjectHealth(organization_id=org_id, organization_name=org_name, object=object)
        return objects[key]

    runs = _scoped(SyncRun.objects, **scope).filter(started_at__gte=since).order_by("started_at", "id")
    for org_id, org_name, object, kind, status, started, finished in runs.values_list(
        "organization_id", "organization__name", "object", "kind", "status", "started_at", "finished_at"
    ):
        item = health(org_id, org_name, object)
        if kind == SyncRun.Kind.NOTIFICATION:
            item.notifications += 1
            item.notifications_failed += status == SyncRun.Status.FAILED
            continue
        if status == SyncRun.Status.OK:
            item.ok += 1
        elif status == SyncRun.Status.FAILED:
            item.failed += 1
        else:
            item.other += 1
        if finished is not None and status in (SyncRun.Status.OK, SyncRun.Status.FAILED):
            item.durations.append((started, max((finished - started).total_seconds(), 0.0)))

    states = _scoped(SyncState.objects, **scope).values_list(
        "organization_id", "organization__name", "object", "watermark", "paused_until", "paused_reason", "change_token"
    )
    for org_id, org_name, object, watermark, paused_until, paused_reason, change_token in states:
        item = health(org_id, org_name, object)
        item.watermark = watermark
        item.change_tracked = item.change_tracked or bool(change_token)
        item.watermark_lag_seconds = (now - watermark).total_seconds() if watermark else None
        if paused_until is not None and paused_until > now:
            item.paused_until, item.paused_reason = paused_until, paused_reason

    per_object = (
        _scoped(SyncRun.objects, **scope)
        .values("organization_id", "organization__name", "object")
        .annotate(
            last_ok=Max("started_at", filter=Q(status=SyncRun.Status.OK) & ~Q(kind=SyncRun.Kind.NOTIFICATION)),
            credits=Sum("credits_used", filter=Q(started_at__gte=today), default=0),
        )
        .order_by()
    )
    for row in per_object:
        item = health(row["organization_id"], row["organization__name"], row["object"])
        item.last_ok_started_at = row["last_ok"]
        item.credits_today = row["credits"] or 0

    resyncs = (
        _scoped(SyncRun.objects, **scope)
        .filter(started_at__gte=since, error__contains=RESYNC_NOTE)
        .order_by("started_at", "id")
        .values_list("organization_id", "organization__name", "object", "started_at", "error")
    )
    for org_id, org_name, object, started, note in resyncs:  # the newest wins
        item = health(org_id, org_name, object)
        item.resync_at, item.resync_note = started, note

    ordered = sorted(objects.values(), key=lambda m: (m.organization_name, m.organization_id, m.object))
    _draw(ordered, since=since)

    errors = list(
        _scoped(SyncRun.objects, **scope)
        .filter(Q(status=SyncRun.Status.FAILED) | ~Q(error=""))
        .select_related("organization")
        .order_by("-started_at", "-id")[:ERRORS_LIMIT]
    )
    quarantine_qs = _scoped(CrmQuarantine.objects, **scope)
    quarantine = list(quarantine_qs.select_related("organization").order_by("-created_at", "-id")[:QUARANTINE_LIMIT])
    quarantine_total = quarantine_qs.count() if len(quarantine) == QUARANTINE_LIMIT else len(quarantine)

    # The change-feed channels: live or not, and the last problem (a lapse, a refusal, a re-subscription).
    channels = list(_scoped(NotificationChannel.objects, **scope).select_related("organization").order_by("pk"))

    if manager is not None:
        organizations = [manager.organization]
    else:
        organizations = list(Organization.objects.unscoped().order_by("name"))  # the operator's filter choices
    return SyncDashboard(
        objects=ordered,
        errors=errors,
        quarantine=quarantine,
        quarantine_total=quarantine_total,
        organizations=organizations,
        channels=channels,
        since=since,
        now=now,
        sections=dashboard_sections_read(manager=manager, organization=organization, now=now),
    )


def _draw(objects: list[ObjectHealth], *, since: datetime) -> None:
    """Sparkline points (x: time across the 24 h, y: duration against the object's slowest) and bar widths."""
    window = WINDOW.total_seconds()
    most_runs = max((m.ok + m.failed for m in objects), default=0)
    for item in objects:
        slowest = max((seconds for _, seconds in item.durations), default=0.0)
        item.max_duration_seconds = slowest
        points = []
        for started, seconds in item.durations:
            x = (started - since).total_seconds() / window * SPARK_WIDTH
            y = SPARK_HEIGHT - (seconds / slowest * (SPARK_HEIGHT - 4) if slowest else 0.0) - 2
            points.append((round(min(max(x, 0.0), SPARK_WIDTH), 1), round(y, 1)))
        if len(points) == 1:  # a polyline needs two points to show: draw the single run as a short flat line
            x, y = points[0]
            points = [(max(x - 2, 0.0), y), (min(x + 2, float(SPARK_WIDTH)), y)]
        item.spark_points = points
        if most_runs:
            item.ok_width = round(item.ok / most_runs * BAR_WIDTH, 1)
            item.failed_width = round(item.failed / most_runs * BAR_WIDTH, 1)
