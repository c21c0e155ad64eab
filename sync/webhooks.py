"""The Zoho Notifications callback: `POST /webhooks/zoho/notifications/?key=<url secret>`.

Zoho signs nothing (docs/vendors/zoho-crm.md, Notifications), so three things must hold before a callback is
believed: the URL secret names one of our channels, the body's channel id is that channel's, and the echoed token
matches it (constant time). The channel found by the URL secret decides the organization; nothing in the body can
point elsewhere. The callback is recorded under a key made of the channel and Zoho's payload, so a re-delivery
stores nothing new, and the fetch happens in a task on the `sync` queue.
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
from sync import notifications
from sync.models import NotificationChannel

logger = structlog.get_logger(__name__)


def _refused(status: int, message: str, **context: Any) -> HttpResponse:
    logger.warning("zoho_notification_refused", reason=message, **context)
    return HttpResponse(message, status=status, content_type="text/plain")


@webhook_view
def zoho_notification(request: HttpRequest) -> HttpResponse:
    # Found by the digest of the URL secret (stored encrypted), whatever the organization; one with a NUL is none.
    channel = notifications.channel_for_url_secret(request.GET.get("key", ""))
    if channel is None:
        return _refused(404, "Unknown notification channel")
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _refused(400, "The body is not a JSON object", channel=channel.pk)
    if str(payload.get("channel_id")) != str(channel.channel_id):
        return _refused(403, "The channel id is not this URL's channel", channel=channel.pk)
    token = payload.get("token")
    if not isinstance(token, str) or not channel.token_matches(token):
        return _refused(403, "Wrong channel token", channel=channel.pk)
    if not notifications.channel_accepts_callbacks(channel, now=timezone.now()):
        return _refused(404, "The notification channel is not active", channel=channel.pk)
    stored = {name: value for name, value in payload.items() if name != "token"}  # the token is a credential
    event, created = webhook_record(
        source=notifications.SOURCE,
        key=_event_key(channel, payload, request.body),
        payload=stored,
        organization=channel.organization,
        # Queued here, on the sync queue, rather than by the webhooks' dispatcher: the fetch calls Zoho and must
        # not delay inbound texts on the default queue. The sweep still republishes it if the publish is lost.
        status=InboundEvent.Status.QUEUED,
        raw_body=request.body,
    )
    if created:
        transaction.on_commit(partial(notifications.notification_event_enqueue, event.pk))
    return JsonResponse({"status": "received"})


def _event_key(channel: NotificationChannel, payload: dict[str, Any], body: bytes) -> str:
    """One key per Zoho notification: the same change re-delivered gives the same key, whatever its JSON layout."""
    ids = payload.get("ids")
    if "server_time" in payload and isinstance(ids, list):
        fields = [payload.get("server_time"), payload.get("module"), payload.get("operation"), *sorted(map(str, ids))]
        raw = json.dumps(fields, default=str).encode()
    else:
        raw = body
    return f"{channel.channel_id}:{hashlib.sha256(raw).hexdigest()}"
