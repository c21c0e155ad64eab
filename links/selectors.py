"""Reads of the two-way sync for people: each link's health (the dashboard, the admin, `links status`, the alerts)
and the history of one field of one record pair ("why does this field say that").

A fixed number of queries whatever the number of links: counts, the oldest pending item and the lag percentiles
are aggregated per link by PostgreSQL, never by loading the rows (a busy link writes thousands an hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Func, Max, Min, Q
from django.utils import timezone

from links.models import LinkChange, LinkConflict, LinkWrite, MatchReview, RecordPair, Side, SyncLink
from studios.models import Organization

LAG_WINDOW = timedelta(hours=1)
CONFLICT_WINDOW = timedelta(hours=24)
OPEN_WRITES = [LinkWrite.State.PENDING, LinkWrite.State.SENDING]


@dataclass
class LinkStatus:
    """One link's health at `now`: what waits, what failed, how far behind the writes are, and what blocks it."""

    link: SyncLink
    state: str
    pending_changes: int = 0
    pending_writes: int = 0
    failed_writes: int = 0
    conflicts_24h: int = 0
    open_reviews: int = 0
    # Lag of the writes done in the last hour: from the change in the source CRM to the write in the other.
    lag_p50_seconds: float | None = None
    lag_p99_seconds: float | None = None
    # Age of the oldest change not yet planned or write not yet done (None: nothing waits).
    oldest_pending_seconds: float | None = None
    last_write_at: datetime | None = None
    # Why a running link cannot write (a connection to reconnect); "" when nothing blocks it.
    blocked_reason: str = ""


class EpochSeconds(Func):
    """A duration (timestamp minus timestamp) in seconds."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile of an expression (`fraction` 0..1)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _lag_percentiles(ids: list[int], now: datetime) -> list[dict[str, Any]]:
    """p50 and p99 of the lag of each link's writes done in the last hour, the first sync's left out ({link_id, p50,
    p99}). PostgreSQL computes
    them; elsewhere (SQLite, the embedded default) they are computed here from the lags."""
    done = (
        LinkWrite.objects.unscoped()
        .filter(
            link_id__in=ids, state=LinkWrite.State.DONE, done_at__gte=now - LAG_WINDOW, source_modified_at__isnull=False
        )
        .exclude(origin=LinkWrite.Origin.FIRST_SYNC)
    )  # a first sync carries records last changed long ago: no lag
    if connection.vendor == "postgresql":
        lag = EpochSeconds(F("done_at") - F("source_modified_at"))
        return list(
            done.values("link_id")
            .annotate(p50=Percentile(lag, fraction=0.5), p99=Percentile(lag, fraction=0.99))
            .order_by()
        )
    lags: dict[int, list[float]] = {}
    for link_id, done_at, changed_at in done.values_list("link_id", "done_at", "source_modified_at"):
        lags.setdefault(link_id, []).append((done_at - changed_at).total_seconds())
    return [
        {"link_id": link_id, "p50": _percentile(values, 0.5), "p99": _percentile(values, 0.99)}
        for link_id, values in lags.items()
    ]


def _percentile(values: list[float], fraction: float) -> float:
    """The continuous percentile, as PostgreSQL's percentile_cont computes it (linear between the nearest two)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def link_status(link: SyncLink, *, now: datetime | None = None) -> LinkStatus:
    return links_status_of([link], now=now)[0]


def links_status_of(links: list[SyncLink], *, now: datetime | None = None) -> list[LinkStatus]:
    """The status of links the caller has read through its own scope (an admin page's rows), in their order."""
    return _statuses(list(links), now=now or timezone.now())


def links_status(*, organization: Organization | None = None, now: datetime | None = None) -> list[LinkStatus]:
    """Every link of an organization, or with None every organization's (operators), by organization and name."""
    links = SyncLink.objects.all()
    links = links.unscoped() if organization is None else links.for_organization(organization)
    links = links.select_related("organization", "connection_a", "connection_b").order_by("organization__name", "name")
    return _statuses(list(links), now=now or timezone.now())


def _statuses(links: list[SyncLink], *, now: datetime) -> list[LinkStatus]:
    statuses = {link.pk: LinkStatus(link=link, state=link.state) for link in links}
    if not statuses:
        return []
    ids = list(statuses)
    oldest: dict[int, datetime] = {}

    def older(link_id: int, moment: datetime | None) -> None:
        if moment is not None and (link_id not in oldest or moment < oldest[link_id]):
            oldest[link_id] = moment

    # The links' own rows were read through the caller's scope: these reads are bounded by their ids.
    changes = (
        LinkChange.objects.unscoped()
        .filter(link_id__in=ids, processed_at__isnull=True)
        .values("link_id")
        .annotate(count=Count("id"), first_seen=Min("seen_at"))
        .order_by()
    )
    for row in changes:
        statuses[row["link_id"]].pending_changes = row["count"]
        older(row["link_id"], row["first_seen"])

    writes = (
        LinkWrite.objects.unscoped()
        .filter(link_id__in=ids)
        .values("link_id")
        .annotate(
            pending=Count("id", filter=Q(state__in=OPEN_WRITES)),
            failed=Count("id", filter=Q(state=LinkWrite.State.FAILED)),
            first_pending=Min("created_at", filter=Q(state__in=OPEN_WRITES)),
            last_done=Max("done_at", filter=Q(state=LinkWrite.State.DONE)),
        )
        .order_by()
    )
    for row in writes:
        status = statuses[row["link_id"]]
        status.pending_writes, status.failed_writes, status.last_write_at = (
            row["pending"],
            row["failed"],
            row["last_done"],
        )
        older(row["link_id"], row["first_pending"])

    for row in _lag_percentiles(ids, now):
        status = statuses[row["link_id"]]
        # A CRM clock a little ahead of ours makes a write look earlier than its change: no lag, not a negative one.
        status.lag_p50_seconds = max(row["p50"], 0.0) if row["p50"] is not None else None
        status.lag_p99_seconds = max(row["p99"], 0.0) if row["p99"] is not None else None

    conflicts = (
        LinkConflict.objects.unscoped()
        .filter(link_id__in=ids, created_at__gte=now - CONFLICT_WINDOW)
        .values("link_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in conflicts:
        statuses[row["link_id"]].conflicts_24h = row["count"]

    reviews = (
        MatchReview.objects.unscoped()
        .filter(link_id__in=ids, state=MatchReview.State.OPEN)
        .values("link_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in reviews:
        statuses[row["link_id"]].open_reviews = row["count"]

    for link_id, status in statuses.items():
        if link_id in oldest:
            status.oldest_pending_seconds = max((now - oldest[link_id]).total_seconds(), 0.0)
        if status.link.state == SyncLink.State.RUNNING:
            # The writer sets it when a CRM refused our credentials; a paused link's reason is the manager's own.
            status.blocked_reason = status.link.pause_reason
    return [statuses[link.pk] for link in links]


def field_history(*, pair: RecordPair, field: str) -> list[LinkWrite]:
    """The done writes of a pair that set `field` (its name on either side), oldest first: with each write's
    `values` (new) and `previous` (old), side, origin and time, they say why the field holds what it holds."""
    mapped = pair.link_object.fields.filter(Q(field_a=field) | Q(field_b=field)).values_list("field_a", "field_b")
    names = {Side.A: {field}, Side.B: {field}}
    for field_a, field_b in mapped:
        names[Side.A].add(field_a)
        names[Side.B].add(field_b)
    sets_field = Q()
    for side, side_names in names.items():
        for name in side_names:
            sets_field |= Q(side=side, values__has_key=name)
    writes = LinkWrite.objects.for_organization(pair.organization).filter(pair=pair, state=LinkWrite.State.DONE)
    return list(writes.filter(sets_field).order_by("done_at", "id"))
