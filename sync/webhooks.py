"""The change-feed callback: `POST /webhooks/crm/<kind>/notifications/?key=<url secret>` (and the path customers'
CRMs were given before, which routes here too).

The URL secret names one of our channels, which decides the connection and the organization: nothing in the body
can point elsewhere. The connection's provider then verifies the callback against the channel's subscription
(`parse_notification`: its id, its token or signature) and says what changed. Each change is recorded under a key
made of the channel and what changed, so a re-delivery stores nothing new, and the read happens in a task on the
`sync` queue. A callback the provider verified but cannot read (it answers 400 for what passed its checks: no
object, operation or ids) is recorded as flagged and answered 200, as before the engine was CRM-neutral: a CRM
retries what it sees refused, and this one would never read better.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

import structlog

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from core.models import InboundEvent
from core.webhooks import webhook_record, webhook_view
from crm.errors import CrmNotificationInvalid
from crm.records import ChangeNotification
from crm.registry import UnknownCrm, provider_for
from sync import change_events, notifications
from sync.models import NotificationChannel

logger = structlog.get_logger(__name__)


def _refused(status: int, message: str, **context: Any) -> HttpResponse:
    logger.warning("crm_notification_refused", reason=message, **context)
    return HttpResponse(message, status=status, content_type="text/plain")


@webhook_view
def crm_notification(request: HttpRequest, kind: str) -> HttpResponse:
    # Found by the digest of the URL secret (stored encrypted), whatever the organization; one with a NUL is none.
    channel = notifications.channel_for_url_secret(request.GET.get("key", ""))
    if channel is None or channel.connection is None:
        return _refused(404, "Unknown notification channel")
    try:
        provider = provider_for(channel.connection)
    except UnknownCrm:
        return _refused(404, "Unknown notification channel", channel=channel.pk)
    if provider.kind != kind:
        return _refused(404, "Unknown notification channel", channel=channel.pk, kind=kind)
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _refused(400, "The body is not a JSON object", channel=channel.pk)
    try:
        changes = provider.parse_notification(
            subscription=notifications.channel_subscription(channel), body=request.body, headers=request.headers
        )
    except CrmNotificationInvalid as exc:
        if (exc.status or 400) != 400:
            return _refused(exc.status, exc.message, channel=channel.pk)
        changes, unreadable = [], exc.message
    else:
        unreadable = ""
    if not notifications.channel_accepts_callbacks(channel, now=timezone.now()):
        return _refused(404, "The notification channel is not active", channel=channel.pk)
    if unreadable:
        webhook_record(
            source=change_events.event_source(kind),
            key=f"{channel.channel_id}:{hashlib.sha256(request.body).hexdigest()}",
            payload={**_without_credentials(body), "connection_id": channel.connection_id},
            organization=channel.organization,
            status=InboundEvent.Status.FLAGGED,
            error=f"unreadable: {unreadable}",
            raw_body=request.body,
        )
        return JsonResponse({"status": "received"})
    for change in changes:
        payload = {
            "connection_id": channel.connection_id,
            "object": change.object,
            "operation": str(change.operation),
            "ids": list(change.ids),
            "occurred_at": change.occurred_at.isoformat() if change.occurred_at else None,
        }
        event, created = webhook_record(
            source=change_events.event_source(kind),
            key=_event_key(channel, change, request.body),
            payload=payload,
            organization=channel.organization,
            # Queued here, on the sync queue, rather than by the webhooks' dispatcher: the read calls the CRM and
            # must not delay inbound texts on the default queue. The sweep still republishes a lost publish.
            status=InboundEvent.Status.QUEUED,
            raw_body=request.body,
        )
        if created:
            transaction.on_commit(partial(change_events.notification_event_enqueue, event.pk))
    return JsonResponse({"status": "received"})


def _without_credentials(body: dict[str, Any]) -> dict[str, Any]:
    """The callback as the CRM sent it, without what proves it (an echoed token is a credential)."""
    return {name: value for name, value in body.items() if name not in ("token", "secret", "signature")}


def _event_key(channel: NotificationChannel, change: ChangeNotification, body: bytes) -> str:
    """One key per change: the same change re-delivered gives the same key, whatever its JSON layout (a change
    without a time: the body's bytes)."""
    if change.occurred_at is None:
        raw = body + str(change.object).encode()
    else:
        fields = [change.occurred_at.isoformat(), change.object, str(change.operation), *sorted(change.ids)]
        raw = json.dumps(fields).encode()
    return f"{channel.channel_id}:{hashlib.sha256(raw).hexdigest()}"
