"""Credentials never reach logs or Sentry: every credential-like name (`key` as `token`), in nested dicts and
lists, in query strings, form bodies and messages."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from core.logging import REDACTED, redact_secrets, redact_text, redact_value
from core.observability import scrub_event

SECRET = "s3cr3t-value-0123456789"

CREDENTIAL_NAMES = [
    "key",
    "api_key",
    "apiKey",
    "zapikey",
    "secret",
    "client_secret",
    "clientSecret",
    "password",
    "passwd",
    "authorization",
    "HTTP_AUTHORIZATION",
    "cookie",
    "Set-Cookie",
    "session",
    "sessionid",
    "session_key",
    "signature",
    "X-Twilio-Signature",
    "refresh_token",
    "access_token",
    "auth_token",
    "webhook_token",
    "Idempotency-Key",
    "HTTP_IDEMPOTENCY_KEY",
    "csrfmiddlewaretoken",
    "field_encryption_keys",
]
PLAIN_NAMES = ["code", "status_code", "event_key", "request_id", "ip", "author", "keyword", "count", "event"]


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_every_credential_like_name_is_masked_in_logs(name):
    assert redact_secrets(None, "info", {name: SECRET})[name] == REDACTED


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_ordinary_names_stay_readable(name):
    assert redact_secrets(None, "info", {name: "value-1"})[name] == "value-1"


def test_nested_dicts_and_lists_are_masked():
    event = redact_secrets(
        None,
        "info",
        {
            "event": "zoho_call",
            "payload": {"channels": [{"channel_id": 7, "key": SECRET, "notify_url": f"https://x/n?key={SECRET}"}]},
            "headers": [["Authorization", f"Bearer {SECRET}"], ["Accept", "application/json"]],
            "attempts": ({"session": SECRET}, 3),
        },
    )
    assert SECRET not in json.dumps(event)
    assert event["payload"]["channels"][0]["channel_id"] == 7
    assert event["headers"][1] == ["Accept", "application/json"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"POST /webhooks/zoho/notifications/?key={SECRET}", f"POST /webhooks/zoho/notifications/?key={REDACTED}"),
        (f"GET /auth/zoho/callback?state=s&code={SECRET}&x=1", f"GET /auth/zoho/callback?state=s&code={REDACTED}&x=1"),
        (f"https://a.test/x?api_key={SECRET}#top", f"https://a.test/x?api_key={REDACTED}#top"),
        (f"username=ann&password={SECRET}", f"username=ann&password={REDACTED}"),
        (f"retry with access_token={SECRET} now", f"retry with access_token={REDACTED} now"),
        (f"body {{'refresh_token': '{SECRET}', 'n': '2'}}", f"body {{'refresh_token': '{REDACTED}', 'n': '2'}}"),
        (f'{{"client_secret": "{SECRET}"}}', f'{{"client_secret": "{REDACTED}"}}'),
        (f"Authorization: Zoho-oauthtoken {SECRET}", f"Authorization: Zoho-oauthtoken {REDACTED}"),
        (f"Authorization: Acme-oauthtoken {SECRET}", f"Authorization: Acme-oauthtoken {REDACTED}"),
        (f"POST /webhooks/crm/acme/leads/{SECRET}/?x=1", f"POST /webhooks/crm/acme/leads/{REDACTED}/?x=1"),
        (f"POST /webhooks/acme/leads/{SECRET}/", f"POST /webhooks/acme/leads/{REDACTED}/"),
        ("POST /webhooks/crm/acme/notifications/", "POST /webhooks/crm/acme/notifications/"),
        ("POST /webhooks/twilio/sms/", "POST /webhooks/twilio/sms/"),
        ("widget token llw_abcdefghijklmnopqrstuvwxyz0123", f"widget token {REDACTED}"),
        ("Zoho answered code=INVALID_DATA", "Zoho answered code=INVALID_DATA"),  # `code` outside a query string
    ],
)
def test_secrets_inside_urls_bodies_and_messages_are_masked(text, expected):
    assert redact_text(text) == expected


def test_a_value_under_a_plain_name_is_still_searched():
    assert redact_value("url", f"https://x.test/cb?code={SECRET}") == f"https://x.test/cb?code={REDACTED}"


def test_sentry_events_lose_credentials_everywhere():
    event = {
        "request": {
            "url": f"https://x.test/webhooks/zoho/notifications/?key={SECRET}",
            "query_string": f"key={SECRET}&page=2",
            "headers": [["Idempotency-Key", SECRET], ["Cookie", f"sessionid={SECRET}"]],
            "data": {"form": {"password": SECRET}},
        },
        "exception": {
            "values": [
                {
                    "type": "HTTPError",
                    "value": f"500 for url https://crm.test/x?access_token={SECRET}",
                    "stacktrace": {"frames": [{"vars": {"key": SECRET, "params": {"signature": SECRET}}}]},
                }
            ]
        },
        "logentry": {"message": "calling %s", "params": [f"https://x/?code={SECRET}"]},
        "extra": {"channel": {"key": SECRET}},
        "tags": {"session": SECRET},
        "breadcrumbs": {"values": [{"message": f"GET /x?key={SECRET}", "data": {"api_key": SECRET}}]},
    }
    scrubbed = json.dumps(scrub_event(event, {}))
    assert SECRET not in scrubbed
    assert "page=2" in scrubbed


def rendered_lines(caplog) -> list[str]:
    formatter = next(
        h.formatter
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    return [formatter.format(record) for record in caplog.records]


@pytest.mark.django_db
def test_a_request_line_never_carries_a_notification_key(client, caplog):
    caplog.set_level(logging.INFO)
    client.post(f"/webhooks/zoho/notifications/?key={SECRET}", data=b"{}", content_type="application/json")
    output = "\n".join(rendered_lines(caplog))
    assert "request_finished" in output
    assert SECRET not in output


def test_a_stdlib_log_line_with_a_key_is_masked(caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("leadline.test").info("channel renewed", extra={"key": SECRET, "channel_id": 5})
    output = "\n".join(rendered_lines(caplog))
    assert SECRET not in output
    assert '"channel_id": 5' in output
