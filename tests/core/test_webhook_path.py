"""Webhooks take the lean path (`core.middleware.WebhookPathMiddleware`): no session, user, messages or CSRF
middleware, so recording one costs exactly its INSERT; they keep the security headers, the request id and one
redacted request log line. Everything else, under /webhooks/ or not, still goes through every middleware."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
import structlog
from django_structlog import signals as structlog_signals
from twilio.request_validator import RequestValidator

from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import webhooks as core_webhooks
from core.middleware import WebhookPathMiddleware
from core.models import InboundEvent

pytestmark = pytest.mark.django_db

SMS = "/webhooks/twilio/sms/"
TOKEN = "acme-twilio-token-0001"
SECURITY_HEADERS = (
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
    "Strict-Transport-Security",
)


@pytest.fixture
def tenant(tenant_a):
    tenant_a.twilio.auth_token = TOKEN
    tenant_a.twilio.save()
    return tenant_a


@pytest.fixture
def enqueued(monkeypatch):
    held: list[int] = []
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", held.append)
    return held


@pytest.fixture
def finished_requests():
    """The requests django-structlog wrote its `request_finished` line for, as the request log middleware saw them."""
    seen = []

    def receiver(sender, request, **kwargs):
        seen.append(request)

    structlog_signals.bind_extra_request_finished_metadata.connect(receiver, weak=False)
    yield seen
    structlog_signals.bind_extra_request_finished_metadata.disconnect(receiver)


def text(client, tenant, sid: str):
    params = {
        "MessageSid": sid,
        "AccountSid": tenant.twilio.account_sid,
        "From": "+16175550142",
        "To": tenant.number.number,
        "Body": "Is the pool open?",
    }
    signature = RequestValidator(TOKEN).compute_signature(django_settings.PUBLIC_BASE_URL + SMS, params)
    return client.generic(
        "POST",
        SMS,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        secure=True,
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


def rendered_lines(caplog) -> list[str]:
    formatter = next(
        h.formatter
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    return [formatter.format(record) for record in caplog.records]


def test_a_webhook_costs_its_insert_and_nothing_of_the_session_or_user(client, tenant, enqueued, finished_requests):
    # A browser's signed-in session cookie on the request: the full stack would read the session and its user.
    client.force_login(tenant.manager.user)
    assert text(client, tenant, "SM" + "1" * 32).status_code == 200  # the number is looked up, then remembered
    with CaptureQueriesContext(connection) as queries:
        response = text(client, tenant, "SM" + "2" * 32)
    assert response.status_code == 200
    assert [query["sql"].split(" (")[0] for query in queries] == [f"INSERT INTO {InboundEvent._meta.db_table}"]
    assert "Set-Cookie" not in str(response.cookies)
    assert not response.cookies
    request = finished_requests[-1]
    assert not hasattr(request, "session")
    assert not hasattr(request, "user")
    assert not hasattr(request, "_messages")
    assert InboundEvent.objects.filter(source="twilio.sms").count() == 2


def test_a_browser_page_still_gets_every_middleware(client, tenant, finished_requests):
    client.force_login(tenant.manager.user)
    client.get("/app/", secure=True)
    request = finished_requests[-1]
    assert hasattr(request, "session")
    assert request.user.is_authenticated


def test_a_webhook_has_the_security_headers_and_request_id_of_every_response(client, tenant, enqueued, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    webhook = text(client, tenant, "SM" + "3" * 32)
    page = client.get("/healthz", secure=True)
    assert webhook.status_code == page.status_code == 200
    for header in SECURITY_HEADERS:
        assert webhook.headers.get(header) == page.headers.get(header) is not None, header
    assert webhook.headers["X-Request-ID"]
    assert webhook.headers["Content-Length"] == str(len(webhook.content))


def test_a_webhook_writes_one_redacted_request_line(client, caplog):
    caplog.set_level(logging.INFO)
    secret = "leadtoken-" + "s" * 24
    response = client.post(f"/webhooks/zoho/leads/{secret}/", data=b"{}", content_type="application/json")
    assert response.status_code == 403  # an unknown token: refused, and still logged
    lines = rendered_lines(caplog)
    finished = [line for line in lines if "request_finished" in line]
    assert len(finished) == 1
    assert not [line for line in lines if "request_started" in line]
    assert '"code": 403' in finished[0]
    assert "request_id" in finished[0]
    assert "/webhooks/zoho/leads/[redacted]" in finished[0]
    assert all(secret not in line for line in lines)


def test_other_paths_under_webhooks_take_the_usual_way(client, finished_requests):
    response = client.post("/webhooks/nothing-here/", secure=True)
    assert response.status_code == 404
    assert hasattr(finished_requests[-1], "session")


def test_middleware_with_hooks_the_lean_path_would_skip_is_refused(settings):
    settings.WEBHOOK_MIDDLEWARE = ["django.middleware.csrf.CsrfViewMiddleware"]
    with pytest.raises(ValueError, match="process_view"):
        WebhookPathMiddleware(lambda request: None)


def test_a_failing_webhook_is_a_logged_500(client, tenant, caplog, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr("messaging.webhooks.webhook_record", broken)
    caplog.set_level(logging.INFO)
    client.raise_request_exception = False
    response = text(client, tenant, "SM" + "4" * 32)
    assert response.status_code == 500
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    failed = [line for line in rendered_lines(caplog) if "request_failed" in line]
    assert len(failed) == 1
    assert "request_id" in failed[0]
