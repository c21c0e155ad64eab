"""Alerts for the CRM mirror: Slack (an incoming webhook) and e-mail, once per incident, and once on recovery.

Incidents of one (organization, connection, object):
- failing: its last two finished runs (ok or failed; skipped runs don't count) both failed;
- silent: no run succeeded within three intervals (counted from the last ok run, else the first run, else the
  schedule row's creation), e.g. a worker that is down, runs that never finish, or a lock nobody frees;
- paused: the CRM said the org's API allocation is used up, and the object waits until it frees (it is neither
  failing nor silent meanwhile).
The open incident is kept on the object's `SyncSchedule` row (created with default values if it has none), so
an object that keeps failing alerts once; when it is no longer in an incident, a "recovered" message is sent.
Called by the beat task every minute, outside any transaction (Slack and SMTP are vendor calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Min

from core.http import make_session
from sync.models import SyncRun, SyncSchedule
from sync.schedules import Scheduled, paused_keys, schedules_enabled

logger = structlog.get_logger(__name__)
SLACK_TIMEOUT = (3.05, 10.0)
SILENT_INTERVALS = 3


@dataclass(frozen=True)
class Alert:
    organization_id: int
    object: str
    kind: str  # "failing", "silent" or "recovered"
    text: str


def sync_alerts_check(*, now: datetime) -> list[Alert]:
    """Open and close incidents for every enabled (organization, connection, object); alert each change."""
    sent = []
    paused = paused_keys(now=now)
    for item in schedules_enabled():
        alert = _incident_update(item, now, paused.get(item.key))
        if alert is not None:
            alert_send(subject=f"Leadline sync: {item.organization.name} {item.object} {alert.kind}", text=alert.text)
            sent.append(alert)
    return sent


def _incident_update(item: Scheduled, now: datetime, paused: tuple[datetime, str] | None = None) -> Alert | None:
    # Notification runs are hints about a few ids: their successes say nothing about the sync, and a failed one is
    # retried and caught up by the delta sync.
    runs = SyncRun.objects.for_organization(item.organization).filter(connection=item.connection, object=item.object)
    runs = runs.exclude(kind=SyncRun.Kind.NOTIFICATION)
    finished = list(
        runs.filter(status__in=[SyncRun.Status.OK, SyncRun.Status.FAILED]).order_by("-started_at", "-pk")[:2]
    )
    last_ok = runs.filter(status=SyncRun.Status.OK).order_by("-started_at").first()
    schedule = item.schedule
    since = last_ok.started_at if last_ok else runs.aggregate(first=Min("started_at"))["first"]
    if since is None and schedule is not None:
        since = schedule.created_at
    state = ""
    if paused is not None:
        state = SyncSchedule.Alert.PAUSED
    elif len(finished) == 2 and all(run.status == SyncRun.Status.FAILED for run in finished):
        state = SyncSchedule.Alert.FAILING
    elif since is not None and since <= now - SILENT_INTERVALS * item.interval:
        state = SyncSchedule.Alert.SILENT
    stored = schedule.alert_state if schedule else ""
    if bool(state) == bool(stored):
        if state != stored:  # still one incident, of another kind now: remembered, not alerted again
            _state_save(item, state, schedule.alert_sent_at if schedule else None)
        return None
    name = f"{item.organization.name} ({item.organization.slug}) {item.object}"
    if state == SyncSchedule.Alert.PAUSED:
        until, why = paused
        text = f"Sync of {name} is paused: {why or f'API allocation used up until {until:%Y-%m-%d %H:%M} UTC'}"
    elif state == SyncSchedule.Alert.FAILING:
        latest = finished[0]
        text = f"Sync of {name} failed twice in a row. Last run {latest.pk}: {latest.error[:500]}"
    elif state == SyncSchedule.Alert.SILENT:
        what = "last ok run" if last_ok else "never succeeded; first run"
        text = (
            f"Sync of {name} has not succeeded for {SILENT_INTERVALS} intervals "
            f"({SILENT_INTERVALS * item.interval_minutes} minutes; {what} {since:%Y-%m-%d %H:%M} UTC): "
            "is the worker running?"
        )
    else:
        text = f"Sync of {name} recovered: run {last_ok.pk if last_ok else '?'} ok."
    _state_save(item, state, now)
    return Alert(item.organization.pk, item.object, str(state) or "recovered", text)


def _state_save(item: Scheduled, state: str, sent_at: datetime | None) -> None:
    SyncSchedule.objects.for_organization(item.organization).update_or_create(
        organization=item.organization,
        connection=item.connection,
        object=item.object,
        defaults={"alert_state": state, "alert_sent_at": sent_at},
    )


def alert_send(*, subject: str, text: str) -> None:
    """Post to Slack and e-mail, each if configured. A failing channel is logged and the other still tried."""
    url = settings.SYNC_ALERT_SLACK_WEBHOOK_URL
    if url:
        try:
            response = make_session("sync-alerts", SLACK_TIMEOUT).post(url, json={"text": text})
            response.raise_for_status()
        except Exception:
            # Deliberately swallowed: an alert channel that is down must not stop the e-mail or the schedule.
            logger.exception("sync.alert.slack_failed")
    recipients = list(settings.SYNC_ALERT_EMAILS)
    if recipients:
        try:
            send_mail(subject, text, None, recipients)
        except Exception:
            # Deliberately swallowed, as for Slack above.
            logger.exception("sync.alert.email_failed")
