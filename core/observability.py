"""Sentry initialisation. Secrets are scrubbed by key name and inside URLs before an event leaves the process."""

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from core.logging import redact_value

# Our own credential names, on top of Sentry's defaults (password, secret, api_key, authorization, ...).
SENTRY_EXTRA_DENYLIST = [
    "auth_token",
    "client_secret",
    "refresh_token",
    "access_token",
    "field_encryption_keys",
    "webhook_token",
    "x_twilio_signature",
    "token",
]


def scrub_event(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """before_send: a second pass over request data and breadcrumbs with the log redaction rules."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {key: redact_value(key, value) for key, value in request.items()}
    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict) and isinstance(breadcrumbs.get("values"), list):
        breadcrumbs["values"] = [
            {key: redact_value(key, value) for key, value in crumb.items()} for crumb in breadcrumbs["values"]
        ]
    return event


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float, **extra: Any) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False)],
        send_default_pii=False,
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + SENTRY_EXTRA_DENYLIST, recursive=True),
        before_send=scrub_event,
        traces_sample_rate=traces_sample_rate,
        **extra,
    )
