"""Logs are JSON with a request id, secrets never reach logs or Sentry, probes tell the truth."""

import json
import logging

import pytest
import structlog

from django.urls import reverse

from core import health
from core.logging import REDACTED, redact_secrets, redact_text
from core.observability import scrub_event
from core.secrets import Secret


def test_log_redaction_masks_credentials_by_key_name():
    event = redact_secrets(
        None,
        "info",
        {
            "event": "zoho_refresh",
            "refresh_token": "1000.abc",
            "client_secret": "s3cret",
            "Authorization": "Zoho-oauthtoken 1000.xyz",
            "nested": {"auth_token": "tok", "count": 3},
            "count": 3,
        },
    )
    assert event["refresh_token"] == REDACTED
    assert event["client_secret"] == REDACTED
    assert event["Authorization"] == REDACTED
    assert event["nested"] == {"auth_token": REDACTED, "count": 3}
    assert event["count"] == 3


def test_log_redaction_masks_secrets_inside_urls():
    assert redact_text("POST /webhooks/zoho/leads/abcDEF123/?x=1") == f"POST /webhooks/zoho/leads/{REDACTED}/?x=1"
    assert (
        redact_text("GET /oauth/callback?code=1000.abc&state=xyz") == f"GET /oauth/callback?code={REDACTED}&state=xyz"
    )


def test_a_secret_logged_by_mistake_prints_a_mask(caplog):
    token = Secret("plaintext-token-value")
    logging.getLogger("leadline.test").warning("refreshing with %s", token)
    assert "plaintext-token-value" not in caplog.text


def rendered_lines(caplog) -> list[str]:
    """Format captured records with the project's own handler formatter (structlog JSON), as production would."""
    formatter = next(
        h.formatter
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    return [formatter.format(record) for record in caplog.records]


def test_json_log_lines_carry_the_request_id(client, db, caplog):
    caplog.set_level(logging.INFO)
    response = client.get(reverse("healthz"))
    request_id = response["X-Request-ID"]
    assert len(request_id) == 36
    lines = [json.loads(line) for line in rendered_lines(caplog)]
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert finished, lines
    assert finished[-1]["request_id"] == request_id
    assert finished[-1]["code"] == 200
    assert "timestamp" in finished[-1]
    assert finished[-1]["level"] == "info"


def test_request_lines_never_carry_a_webhook_token(client, db, caplog):
    caplog.set_level(logging.INFO)
    client.get("/webhooks/zoho/leads/super-secret-token/")
    output = "\n".join(rendered_lines(caplog))
    assert "request_finished" in output  # a webhook's one request line (core.middleware.WebhookRequestLogMiddleware)
    assert "super-secret-token" not in output


def test_sentry_events_are_scrubbed():
    event = {
        "request": {
            "url": "https://x.test/webhooks/zoho/leads/tok123/",
            "headers": {"Authorization": "Bearer x"},
            "query_string": "code=1000.secret",
        },
        "breadcrumbs": {"values": [{"message": "GET /oauth/callback?code=1000.abc", "data": {"refresh_token": "r"}}]},
    }
    scrubbed = json.dumps(scrub_event(event, {}))
    for secret in ("tok123", "Bearer x", "1000.secret", "1000.abc", '"r"'):
        assert secret not in scrubbed


def test_sentry_initialises_with_pii_off_and_secrets_denied(monkeypatch):
    import sentry_sdk
    from sentry_sdk.transport import Transport

    from core.observability import init_sentry

    captured = []

    class CapturingTransport(Transport):
        def capture_envelope(self, envelope):
            captured.append(envelope.serialize().decode())

    init_sentry(
        dsn="https://public@sentry.example/1", environment="test", traces_sample_rate=0.0, transport=CapturingTransport
    )
    try:
        client = sentry_sdk.get_client()
        assert client.options["data_collection"]["user_info"] is False
        assert "refresh_token" in client.options["data_collection"]["stack_frame_variables"]["terms"]

        def failing(refresh_token, zoho_refresh_token):
            raise RuntimeError("boom")

        secret = "-".join(["1000.local", "variable", "secret"])  # not a literal, so not in the source context
        try:
            failing(secret, secret)
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # disable again for the rest of the suite
    assert captured, "the event was not captured"
    serialized = "\n".join(captured)
    assert "refresh_token" in serialized  # the frame locals were sent, with their values masked
    assert "1000.local-variable-secret" not in serialized


def test_healthz_answers_without_touching_anything(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_broker_answer(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["broker"]["ok"]


def test_readyz_is_503_when_the_broker_is_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": pytest.approx(response.json()["checks"]["broker"]["ms"]),
    }


def test_readyz_is_503_when_the_database_is_down(client, db, monkeypatch):
    def broken():
        raise ConnectionError("database gone")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_readyz_checks_the_filesystem_broker_folder(db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://localhost/"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "missing"),
        "data_folder_out": str(tmp_path / "missing"),
        "control_folder": str(tmp_path / "control"),
    }
    with pytest.raises(OSError, match="missing or not writable"):
        health.check_broker()
    (tmp_path / "missing").mkdir()
    health.check_broker()


def test_probes_are_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 301


def test_structlog_is_configured_for_stdlib_rendering():
    assert structlog.is_configured()
