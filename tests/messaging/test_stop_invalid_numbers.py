"""A STOP from a sender the phone library calls invalid (a short code, a +1 555 number, a number newer than the
library's data) still reaches the opt-out ledger, keyed by the sender as sent, with separators dropped; START
likewise. The text itself is kept in a conversation. A sender that is no number at all is still flagged."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from django.conf import settings as django_settings

from core import webhooks as core_webhooks
from core.models import InboundEvent
from messaging.models import Message, OptOut
from messaging.phones import sender_normalize
from messaging.providers.zoho_voice.logs import log_parse
from messaging.providers.zoho_voice.poll import zoho_voice_logs_ingest
from tests.messaging.test_zoho_voice import ZV_NUMBER, zv_fresh_http, zv_world  # noqa: F401

SMS = "/webhooks/twilio/sms/"
TOKEN = "acme-twilio-token-0001"


@pytest.fixture
def acme(tenant_a, monkeypatch):
    tenant_a.twilio.auth_token = TOKEN
    tenant_a.twilio.save()
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", lambda event_id, countdown=None: None)
    monkeypatch.setattr("messaging.services.sending.message_send_enqueue", lambda message_id, countdown=None: None)
    return tenant_a


def text_in(client, tenant, *, sender: str, body: str, sid: str) -> InboundEvent:
    params = {
        "MessageSid": sid,
        "AccountSid": tenant.twilio.account_sid,
        "From": sender,
        "To": tenant.number.number,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(TOKEN).compute_signature(django_settings.PUBLIC_BASE_URL + SMS, params)
    response = client.generic(
        "POST",
        SMS,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get(source="twilio.sms", idempotency_key=sid)
    core_webhooks.inbound_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sender", "key"),
    [
        pytest.param("+15550001234", "+15550001234", id="fictional-555"),
        pytest.param("+1 (555) 000-1234", "+15550001234", id="formatted"),
        pytest.param("12345", "12345", id="short-code"),
        pytest.param("+999123456789", "+999123456789", id="unassigned-country-code"),
    ],
)
def test_stop_and_start_from_an_invalid_number_reach_the_ledger(client, acme, sender, key):
    stop = text_in(client, acme, sender=sender, body="STOP", sid="SM" + "1" * 32)
    assert stop.status == InboundEvent.Status.PROCESSED, stop.error
    row = OptOut.objects.for_organization(acme.organization).get(phone=key)
    assert row.is_opted_out
    assert Message.objects.for_organization(acme.organization).get(direction="inbound").from_number == key

    start = text_in(client, acme, sender=sender, body="START", sid="SM" + "2" * 32)
    assert start.status == InboundEvent.Status.PROCESSED, start.error
    row.refresh_from_db()
    assert not row.is_opted_out


@pytest.mark.django_db
@pytest.mark.parametrize("sender", ["ACME", "+", "+12345678901234567", "1-2"])
def test_a_sender_that_is_no_number_is_still_flagged(client, acme, sender):
    event = text_in(client, acme, sender=sender, body="STOP", sid="SM" + "3" * 32)
    assert event.status == InboundEvent.Status.FLAGGED
    assert not OptOut.objects.unscoped().exists()


def test_sender_normalize():
    assert sender_normalize("+14155550100") == "+14155550100"
    assert sender_normalize(" +1 415-555-0100 ") == "+14155550100"
    assert sender_normalize("+1.555.000.1234") == "+15550001234"
    assert sender_normalize("12345") == "12345"
    assert sender_normalize("") is None
    assert sender_normalize("12") is None
    assert sender_normalize("ACME") is None


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "log-by-log"])
def test_a_zoho_voice_stop_from_a_short_code_reaches_the_ledger(zv_world, set_based):  # noqa: F811
    raw = {
        "logid": "9001",
        "messageType": "INCOMING",
        "submittedTime": int(datetime.now(tz=UTC).timestamp() * 1000),
        "senderId": "+1 " + ZV_NUMBER[2:],
        "customerNumber": "55512",
        "message": "STOP",
        "status": "RECEIVED",
    }
    log = log_parse(raw, our_number=ZV_NUMBER)
    assert log is not None
    assert log.from_number == "55512"
    zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log], set_based=set_based)
    assert OptOut.objects.for_organization(zv_world.organization).get(phone="55512").is_opted_out
