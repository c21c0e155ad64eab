"""Bad input answers 4xx or is stored safely, never 500. PostgreSQL refuses NUL in text and JSONB, so a NUL byte
in any webhook's body or query string must not reach a column as it came; a genuine (signed) text containing one
is still recorded, its fields without the NUL, its original bytes kept. Out-of-range cursors and numbers in the
API's query strings are a 400."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from automation.models import LeadIntake
from core import webhooks as core_webhooks
from core.models import InboundEvent
from core.webhooks import inbound_event_process
from messaging.models import Message
from tests.fuzz.support import (
    NOTIFICATIONS,
    SMS,
    STATUS,
    lead_webhook,
    live_channel,
    sms_params,
    status_params,
    twilio_post,
    twilio_signed,
    widget_client,
)
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", lambda event_id: None)


@pytest.fixture
def acme(tenant_a):
    twilio_signed(tenant_a)
    return tenant_a


# --- Twilio ------------------------------------------------------------------------------------------------------
def test_a_signed_text_with_nul_is_recorded_without_it_and_its_original_bytes_kept(client, acme):
    params = sms_params(acme, Body="STOP\x00 please\x00")
    response = twilio_post(client, SMS, params)

    assert response.status_code == 200
    event = InboundEvent.objects.get(source="twilio.sms")
    assert event.payload["Body"] == "STOP please"
    assert event.idempotency_key == params["MessageSid"]
    assert bytes(event.raw_body) == response.wsgi_request.body
    assert b"STOP%00+please%00" in bytes(event.raw_body)

    assert inbound_event_process(event_id=event.pk) == InboundEvent.Status.PROCESSED
    assert Message.objects.unscoped().get(provider_message_id=params["MessageSid"]).body == "STOP please"


def test_a_resent_text_with_nul_is_still_recorded_once(client, acme):
    params = sms_params(acme, Body="\x00")
    assert twilio_post(client, SMS, params).status_code == 200
    assert twilio_post(client, SMS, params).status_code == 200
    assert InboundEvent.objects.filter(source="twilio.sms").count() == 1


@pytest.mark.parametrize("field", ["MessageSid", "From", "To", "AccountSid", "NumMedia", "MediaUrl0", "Nul\x00Name"])
def test_nul_in_any_field_of_a_signed_text_is_never_a_500(client, acme, field):
    params = sms_params(acme)
    params[field] = params.get(field, "x") + "\x00"
    response = twilio_post(client, SMS, params)
    assert response.status_code < 500
    if response.status_code == 200:
        event = InboundEvent.objects.get()
        assert "\x00" not in json.dumps(event.payload, ensure_ascii=False)


def test_nul_in_the_account_sid_of_an_unsigned_text_to_an_unknown_number_is_a_403(client, acme):
    params = sms_params(acme, To="+19995550100", AccountSid="AC\x00")
    response = twilio_post(client, SMS, params, token="not-the-token")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_nul_in_the_query_string_of_a_signed_text_is_recorded(client, acme):
    response = twilio_post(client, SMS, sms_params(acme), query="x=%00")
    assert response.status_code == 200
    assert InboundEvent.objects.filter(source="twilio.sms").count() == 1


def test_a_signed_status_callback_with_nul_is_recorded(client, acme):
    params = status_params(acme, MessageStatus="undelivered", ErrorCode="30003", ErrorMessage="Unreachable\x00")
    response = twilio_post(client, STATUS, params)
    assert response.status_code == 200
    event = InboundEvent.objects.get(source="twilio.status")
    assert event.payload["ErrorMessage"] == "Unreachable"
    assert b"Unreachable%00" in bytes(event.raw_body)


def test_a_status_callback_with_nul_in_its_status_is_never_a_500(client, acme):
    response = twilio_post(client, STATUS, status_params(acme, MessageStatus="deliv\x00ered"))
    assert response.status_code < 500


# --- Zoho new lead -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"lead_id": "4150868000001\x00"}', "application/json"),
        (b'{"lead_id": "4150868000001\\u0000"}', "application/json"),
        (b"lead_id=4150868000001%00&name=\x00", "application/x-www-form-urlencoded"),
        (b"\x00\x00\x00", "text/plain"),
    ],
)
def test_a_lead_webhook_with_nul_in_its_body_is_recorded_and_processed(client, acme, body, content_type):
    url = lead_webhook(acme)
    response = client.generic("POST", url, body, content_type=content_type)
    assert response.status_code == 200
    event = InboundEvent.objects.get(source="zoho.lead")
    if b"\x00" in body:  # the stored fields lost it: the body as received is kept
        assert "\x00" not in json.dumps(event.payload, ensure_ascii=False)
        assert bytes(event.raw_body) == body
    else:  # an escaped NUL is six characters of text, stored as they came
        assert event.raw_body is None
    assert inbound_event_process(event_id=event.pk) in ("processed", "flagged")
    intakes = list(LeadIntake.objects.for_organization(acme.organization).values_list("crm_record_id", flat=True))
    assert intakes == ([] if body == b"\x00\x00\x00" else ["4150868000001"])


def test_a_lead_webhook_with_nul_in_its_query_is_recorded(client, acme):
    url = lead_webhook(acme)
    response = client.generic("POST", f"{url}?lead_id=41%00&%00=1", b"{}", content_type="application/json")
    assert response.status_code == 200
    assert InboundEvent.objects.get(source="zoho.lead").payload["query"] == {"lead_id": "41", "": "1"}


def test_a_lead_webhook_token_with_nul_is_a_403(client, acme):
    lead_webhook(acme)
    response = client.generic("POST", "/webhooks/zoho/leads/abc%00def/", b"{}", content_type="application/json")
    assert response.status_code == 403


# --- Zoho notifications ------------------------------------------------------------------------------------------
def test_a_notification_key_with_nul_is_a_404(client, acme):
    live_channel(acme)
    response = client.generic("POST", f"{NOTIFICATIONS}?key=ab%00cd", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_a_notification_with_nul_in_its_json_is_recorded(client, acme):
    channel = live_channel(acme)
    body = {
        "channel_id": channel.channel_id,
        "token": channel.token,
        "module": "Leads\u0000",
        "operation": "update",
        "ids": ["41\u0000"],
        "server_time": 1700000000000,
        "affected_fields": [{"\u0000": ["x\u0000"]}],
    }
    response = client.post(f"{NOTIFICATIONS}?key={channel.url_secret}", body, content_type="application/json")
    assert response.status_code == 200
    event = InboundEvent.objects.get(source="zoho.notification")
    assert event.payload["ids"] == ["41"]
    assert event.payload["module"] == "Leads"
    assert "token" not in event.payload


@pytest.mark.parametrize("token", ["channel-token-0001\u0000", "\u0000"])
def test_a_notification_token_with_nul_is_a_403(client, acme, token):
    channel = live_channel(acme)
    body = {"channel_id": channel.channel_id, "token": token, "ids": ["1"], "server_time": 1, "module": "Leads"}
    response = client.post(f"{NOTIFICATIONS}?key={channel.url_secret}", body, content_type="application/json")
    assert response.status_code == 403


def test_a_notification_with_nul_in_its_query_is_never_a_500(client, acme):
    channel = live_channel(acme)
    body = {"channel_id": channel.channel_id, "token": channel.token, "ids": ["1"], "server_time": 1}
    url = f"{NOTIFICATIONS}?key={channel.url_secret}&extra=%00"
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 200


# --- API cursors and numbers -------------------------------------------------------------------------------------
def cursor(value) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


BAD_CURSORS = [
    cursor('["2026-01-01T00:00:00+00:00", Infinity]'),
    cursor('["2026-01-01T00:00:00+00:00", -Infinity]'),
    cursor('["2026-01-01T00:00:00+00:00", NaN]'),
    cursor('["2026-01-01T00:00:00+00:00", 1e400]'),
    cursor('["2026-01-01T00:00:00+00:00", 123456789012345678901234567890]'),
    cursor('["2026-01-01T00:00:00+00:00", -1]'),
    cursor('["2026-01-01T00:00:00+00:00", 1.5]'),
    cursor('["2026-01-01T00:00:00+00:00", true]'),
    cursor('["2026-01-01T00:00:00+00:00", "7"]'),
    cursor('["0001-01-01T00:00:00+14:00", 1]'),  # before year 1 in UTC
    cursor('["2026-01-01T00:00:00", 1]'),  # no offset
    cursor('["2026-01-01T00:00:00+24:00", 1]'),
    cursor('["2026-13-01T00:00:00+00:00", 1]'),
    cursor('["\\u0000", 1]'),
    cursor('["2026-01-01T00:00:00+00:00", 1, 2]'),
    cursor('"just a string"'),
    cursor('{"a": 1}'),
    cursor("[]"),
    "%00",
    "WyIy%00",
    "!!!!",
    "a",
    "=" * 8,
    "\u00e9\u00e9",
    base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
]


@pytest.mark.parametrize("raw", BAD_CURSORS)
def test_an_out_of_range_or_garbled_cursor_is_a_400(acme, raw):
    conversation = ConversationFactory(studio=acme.studio)
    MessageFactory(conversation=conversation)
    client = widget_client(acme.manager)
    for url in (f"/api/v1/conversations/{conversation.pk}/messages/", "/api/v1/conversations/"):
        response = client.get(f"{url}?cursor={quote(raw, safe='%')}")
        assert response.status_code == 400, (url, raw, response.content[:300])
        assert response.json()["extra"]["fields"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize(
    "raw",
    [
        cursor('["9999-12-31T23:59:59+00:00", 9223372036854775807]'),
        cursor('["0001-01-01T00:00:00-14:00", 1]'),
        cursor('["2026-01-01T00:00:00\\u0000+00:00", 1]'),  # Python's ISO parser reads it: a position like any
    ],
)
def test_an_extreme_but_valid_position_is_a_page(acme, raw):
    conversation = ConversationFactory(studio=acme.studio)
    MessageFactory(conversation=conversation)
    client = widget_client(acme.manager)
    for url in (f"/api/v1/conversations/{conversation.pk}/messages/", "/api/v1/conversations/"):
        assert client.get(url, {"cursor": raw}).status_code == 200


def test_a_cursor_from_another_thread_is_only_a_position_in_this_one(acme):
    first, second = ConversationFactory(studio=acme.studio), ConversationFactory(studio=acme.other_studio)
    for _ in range(3):
        MessageFactory(conversation=first)
        MessageFactory(conversation=second)
    client = widget_client(acme.manager)
    page = client.get(f"/api/v1/conversations/{first.pk}/messages/", {"page_size": 1}).json()
    response = client.get(f"/api/v1/conversations/{second.pk}/messages/", {"cursor": page["next_cursor"]})
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids <= set(Message.objects.unscoped().filter(conversation=second).values_list("id", flat=True))


@pytest.mark.parametrize("size", ["99999999999999999999999", "-99999999999999999999", "0", "1e400", "%00", "Infinity"])
def test_any_page_size_is_answered(acme, size):
    conversation = ConversationFactory(studio=acme.studio)
    client = widget_client(acme.manager)
    for url in (f"/api/v1/conversations/{conversation.pk}/messages/", "/api/v1/conversations/"):
        response = client.get(f"{url}?page_size={size}")
        assert response.status_code in (200, 400), (url, size, response.content[:300])


@pytest.mark.parametrize("value", ["99999999999999999999999", "-9223372036854775809", "1e400", "Infinity", "%00"])
def test_out_of_range_ids_in_the_query_and_body_are_answered(acme, value):
    client = widget_client(acme.manager)
    response = client.get(f"/api/v1/conversations/?studio_id={value}")
    assert response.status_code in (200, 400), (value, response.content[:300])
    response = client.get(f"/api/v1/conversations/?q={value}&crm_record_id={value}")
    assert response.status_code in (200, 400), (value, response.content[:300])
    big = int(value) if value.lstrip("-").isdigit() else value
    conversation = ConversationFactory(studio=acme.studio)
    for url, body in (
        ("/api/v1/messages/", {"to": "+16175550142", "studio_id": big, "body": "hi"}),
        ("/api/v1/messages/", {"to": "+16175550142", "studio_id": acme.studio.pk, "from_number_id": big, "body": "x"}),
        (f"/api/v1/conversations/{conversation.pk}/read/", {"last_seen_message_id": big}),
    ):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code < 500, (url, value, response.content[:300])


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "99999999999999999999999", "-1", "%00", "1e3"])
def test_any_studio_id_on_the_template_list_is_answered(acme, value):
    response = widget_client(acme.manager).get(f"/api/v1/templates/?studio_id={quote(value, safe='%')}")
    assert response.status_code in (200, 400), (value, response.content[:300])


@pytest.mark.parametrize("value", ["\u00b2", "99999999999999999999999", "%00"])
def test_any_organization_on_the_sync_dashboard_is_answered(client, operator, value):
    client.force_login(operator)
    response = client.get(f"/ops/sync/?organization={quote(value, safe='%')}")
    assert response.status_code in (200, 400, 404), (value, response.content[:300])
