"""Alerts for two-way sync links: sent as the mirror's are (sync.alerts.alert_send: Slack and e-mail), once per
incident, and once on recovery.

Incidents of one link, the first that holds:
- blocked: a running link cannot write because a CRM refused our credentials (the writer's `pause_reason` says
  which connection needs reconnecting);
- failing: writes a CRM refused wait in the failed-writes queue. A new incident needs failures that appeared since
  the last alert: failures a manager leaves in the queue do not reopen one after it recovered; an open incident
  lasts until the queue is empty (each write retried or skipped);
- lagging: a running link's oldest change or write has waited longer than LINKS_LAG_ALERT_SECONDS (a worker down,
  a CRM slow to take the writes).
The open incident is kept on the link (`alert_state`, `alert_sent_at`); another kind of incident while one is open
is remembered, not alerted again. Called by links.tasks.links_due_task every minute, outside any transaction
(Slack and SMTP are vendor calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from links.models import LinkWrite, SyncLink
from links.selectors import LinkStatus, links_status
from sync.alerts import alert_send

BLOCKED, FAILING, LAGGING = "blocked", "failing", "lagging"
DEFAULT_LAG_ALERT_SECONDS = 1800


@dataclass(frozen=True)
class LinkAlert:
    organization_id: int
    link_id: int
    kind: str  # "blocked", "failing", "lagging" or "recovered"
    text: str


@dataclass(frozen=True)
class Failures:
    count: int
    newest_at: datetime | None


def links_alerts_check(now: datetime | None = None) -> list[LinkAlert]:
    """Open and close incidents for every link of every organization; alert each change."""
    now = now or timezone.now()
    lag_limit = float(getattr(settings, "LINKS_LAG_ALERT_SECONDS", DEFAULT_LAG_ALERT_SECONDS))
    statuses = links_status(now=now)  # background code: every organization
    failures = _failures([status.link.pk for status in statuses])
    sent = []
    for status in statuses:
        alert = _incident_update(status, failures.get(status.link.pk, Failures(0, None)), now, lag_limit)
        if alert is not None:
            link = status.link
            alert_send(
                subject=f"Leadline two-way sync: {link.organization.name} {link.name} {alert.kind}", text=alert.text
            )
            sent.append(alert)
    return sent


def _failures(link_ids: list[int]) -> dict[int, Failures]:
    """Failed writes in the queue per link, and when the newest failed (its last attempt, else its planning)."""
    rows = (
        LinkWrite.objects.unscoped()  # bounded by the links read above
        .filter(link_id__in=link_ids, state=LinkWrite.State.FAILED)
        .values("link_id")
        .annotate(count=Count("id"), newest=Max(Coalesce("sent_at", "created_at")))
        .order_by()
    )
    return {row["link_id"]: Failures(row["count"], row["newest"]) for row in rows}


def _incident_state(status: LinkStatus, failures: Failures, lag_limit: float) -> str:
    link = status.link
    running = link.state == SyncLink.State.RUNNING
    if running and status.blocked_reason:
        return BLOCKED
    if failures.count:
        # While an incident is open, the queue keeps it open; else only failures since the last alert open one.
        new = link.alert_sent_at is None or (failures.newest_at is not None and failures.newest_at > link.alert_sent_at)
        if link.alert_state or new:
            return FAILING
    if running and status.oldest_pending_seconds is not None and status.oldest_pending_seconds > lag_limit:
        return LAGGING
    return ""


def _incident_update(status: LinkStatus, failures: Failures, now: datetime, lag_limit: float) -> LinkAlert | None:
    link = status.link
    state = _incident_state(status, failures, lag_limit)
    stored = link.alert_state
    if bool(state) == bool(stored):
        if state != stored:  # still one incident, of another kind now: remembered, not alerted again
            _state_save(link, state, link.alert_sent_at)
        return None
    name = f"{link.organization.name} ({link.organization.slug}) link {link.name}"
    if state == BLOCKED:
        text = f"Two-way sync {name} cannot write: {status.blocked_reason}"
    elif state == FAILING:
        newest = (
            LinkWrite.objects.for_organization(link.organization)
            .filter(link=link, state=LinkWrite.State.FAILED)
            .order_by("-id")
            .first()
        )
        why = f"{newest.error_code}: {newest.error_message[:300]}" if newest else ""
        text = (
            f"Two-way sync {name}: {failures.count} write(s) refused, waiting in the failed-writes queue. Newest: {why}"
        )
    elif state == LAGGING:
        text = (
            f"Two-way sync {name} is behind: the oldest change has waited {status.oldest_pending_seconds / 60:.0f} "
            f"minutes ({status.pending_changes} changes and {status.pending_writes} writes pending): "
            "is the worker running?"
        )
    else:
        now_state = "" if link.state == SyncLink.State.RUNNING else f" (the link is {link.state})"
        text = f"Two-way sync {name} recovered: no longer {stored}{now_state}."
    _state_save(link, state, now)
    return LinkAlert(link.organization_id, link.pk, state or "recovered", text)


def _state_save(link: SyncLink, state: str, sent_at: datetime | None) -> None:
    SyncLink.objects.for_organization(link.organization).filter(pk=link.pk).update(
        alert_state=state, alert_sent_at=sent_at
    )
    link.alert_state, link.alert_sent_at = state, sent_at
