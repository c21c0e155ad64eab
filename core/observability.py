"""Sentry initialisation. Secrets are scrubbed by key name and inside URLs before an event leaves the process."""

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST

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


SECRET_TERMS = [*DEFAULT_DENYLIST, *SENTRY_EXTRA_DENYLIST]


def _scrub_frames(container: Any) -> None:
    for value in (container or {}).get("values", []) or []:
        frames = ((value.get("stacktrace") or {}).get("frames")) or []
        for frame in frames:
            if isinstance(frame.get("vars"), dict):
                frame["vars"] = {key: redact_value(key, item) for key, item in frame["vars"].items()}


def scrub_event(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    """before_send: a second pass, with the log redaction rules, over request data, breadcrumbs and frame locals.

    The SDK's own denylists run first; this catches names they do not know (e.g. `zoho_refresh_token`) and
    secrets inside URLs (a webhook token in a path)."""
    _scrub_frames(event.get("exception"))
    _scrub_frames(event.get("threads"))
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
