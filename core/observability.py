"""Sentry initialisation. Secrets are scrubbed by key name and inside URLs before an event leaves the process."""

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST

from core.logging import redact_text, redact_value

# Our own credential names, on top of Sentry's defaults (password, secret, api_key, authorization, ...).
SENTRY_EXTRA_DENYLIST = [
    "auth_token",
    "client_secret",
    "refresh_token",
    "access_token",
    "field_encryption_keys",
    "webhook_token",
    "x_twilio_signature",
    "signature",
    "token",
    "idempotency",
]


SECRET_TERMS = [*DEFAULT_DENYLIST, *SENTRY_EXTRA_DENYLIST]


def _scrub_frames(container: Any) -> None:
    for value in (container or {}).get("values", []) or []:
        if isinstance(value.get("value"), str):  # an exception's message may quote a URL or a payload
            value["value"] = redact_text(value["value"])
        frames = ((value.get("stacktrace") or {}).get("frames")) or []
        for frame in frames:
            if isinstance(frame.get("vars"), dict):
                frame["vars"] = {key: redact_value(key, item) for key, item in frame["vars"].items()}


def scrub_event(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """before_send: a second pass, with the log redaction rules, over the request, breadcrumbs, frame locals,
    exception and log messages, extra data, contexts and tags.

    The SDK's own denylists run first; this catches names they do not know (e.g. `crm_refresh_token`) and
    secrets inside URLs and messages (a webhook token in a path, `?key=`, `?code=`, a quoted payload)."""
    _scrub_frames(event.get("exception"))
    _scrub_frames(event.get("threads"))
    for section in ("request", "extra", "contexts", "tags", "logentry"):
        if isinstance(event.get(section), dict):
            event[section] = {key: redact_value(key, value) for key, value in event[section].items()}
    if isinstance(event.get("message"), str):
        event["message"] = redact_text(event["message"])
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
        # monitor_beat_tasks: every beat schedule entry becomes a Sentry Crons monitor (a check-in as each run starts
        # and ends), so a schedule that stops running is alerted on from Sentry's side (docs/operations.md).
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=True)],
        # No personal data: no user identity, no cookies, no request bodies (webhooks carry phone numbers and
        # message text); headers, query strings and frame locals lose anything named like a credential.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_bodies": [],
            "http_headers": {"request": {"mode": "denylist", "terms": SECRET_TERMS}},
            "url_query_params": {"mode": "denylist", "terms": [*SECRET_TERMS, "code", "zapikey"]},
            "stack_frame_variables": {"mode": "denylist", "terms": SECRET_TERMS},
        },
        before_send=scrub_event,
        traces_sample_rate=traces_sample_rate,
        **extra,
    )
