"""Hostile and broken webhooks: unsigned, wrongly signed, malformed, oversized, for unknown numbers, for another
organization's number. Each gets a 4xx (or, when genuine but unroutable, a 200 and a flagged event), never a 500,
and nothing genuine is lost. Also: a status callback that beats the send's own write of the MessageSid."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from django.conf import settings as django_settings
from django.utils import timezone

from core import webhooks as core_webhooks
from core.models import InboundEvent
from messaging.models import Message
from tests.factories import PhoneNumberFactory
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

SMS = "/webhooks/twilio/sms/"
STATUS = "/webhooks/twilio/status/"
LEAD = "+16175550142"
TOKEN_A = "acme-twilio-token-0001"
TOKEN_B = "bolt-twilio-token-0002"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def tenants(tenant_a, tenant_b):
    """Two organizations whose Twilio accounts have different tokens."""
    for tenant, token in ((tenant_a, TOKEN_A), (tenant_b, TOKEN_B)):
        tenant.twilio.auth_token = token
        tenant.twilio.save()
    return tenant_a, tenant_b


@pytest.fixture
def enqueued(monkeypatch):
    """Events handed on for processing: by the web path (enqueue) and by the sweep (publish)."""
    held: list[int] = []
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", lambda event_id, countdown=None: held.append(event_id))
    monkeypatch.setattr(core_webhooks, "inbound_event_publish", lambda event_id, countdown=None: held.append(event_id))
    return held


def sms_params(tenant, *, to=None, sid="SM" + "a" * 32, **extra) -> dict:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": tenant.twilio.account_sid,
        "From": LEAD,
        "To": to or tenant.number.number,
        "Body": "Is the pool open?",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def status_params(tenant, *, sid="SM" + "b" * 32, status="delivered", **extra) -> dict:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": tenant.twilio.account_sid,
        "From": tenant.number.number,
        "To": LEAD,
        "MessageStatus": status,
        "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def sign(params: dict, *, token: str, path: str, base: str | None = None) -> str:
    return RequestValidator(token).compute_signature((base or django_settings.PUBLIC_BASE_URL) + path, params)


def post(client, path, params, *, signature=None, content_type=FORM, body=None):
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature is not None else {}
    data = body if body is not None else urlencode(params)
    return client.generic("POST", path, data, content_type=content_type, **headers)


def events(source="twilio.sms"):
    return InboundEvent.objects.filter(source=source)


# --- the genuine path, as a reference --------------------------------------------------------------------------
def test_a_genuine_text_is_recorded_once_and_enqueued(client, tenants, enqueued, django_capture_on_commit_callbacks):
    a, _ = tenants
    params = sms_params(a)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS))
        again = post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS))
    assert (first.status_code, again.status_code) == (200, 200)
    assert b"<Response></Response>" in first.content
    event = events().get()
    assert (event.organization, event.status, event.idempotency_key) == (
        a.organization,
        InboundEvent.Status.RECEIVED,
        params["MessageSid"],
    )
    assert enqueued == [event.pk]


# --- refused: 403 ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [SMS, STATUS])
def test_an_unsigned_webhook_is_refused(client, tenants, path):
    a, _ = tenants
    params = sms_params(a) if path == SMS else status_params(a)
    assert post(client, path, params).status_code == 403
    assert post(client, path, params, signature="").status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [SMS, STATUS])
def test_a_signature_with_the_wrong_token_is_refused(client, tenants, path):
    a, _ = tenants
    params = sms_params(a) if path == SMS else status_params(a)
    assert post(client, path, params, signature=sign(params, token="not-our-token", path=path)).status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [SMS, STATUS])
@pytest.mark.parametrize(
    "url", ["https://evil.test", "http://leadline.test", "https://leadline.test/other"], ids=["host", "scheme", "path"]
)
def test_a_signature_over_another_url_is_refused(client, tenants, path, url):
    a, _ = tenants
    params = sms_params(a) if path == SMS else status_params(a)
    signature = RequestValidator(TOKEN_A).compute_signature(url + path, params)
    assert post(client, path, params, signature=signature).status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_signature_over_other_params_is_refused(client, tenants):
    a, _ = tenants
    params = sms_params(a)
    signature = sign(params, token=TOKEN_A, path=SMS)
    assert post(client, SMS, {**params, "Body": "tampered"}, signature=signature).status_code == 403
    assert post(client, SMS, {**params, "Extra": "added"}, signature=signature).status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [SMS, STATUS])
def test_organization_as_number_signed_with_organization_bs_token_is_refused(client, tenants, path):
    a, b = tenants
    # B's AccountSid and token, but A's number: the number decides whose token must have signed it.
    params = sms_params(a, AccountSid=b.twilio.account_sid) if path == SMS else status_params(a)
    params["AccountSid"] = b.twilio.account_sid
    assert post(client, path, params, signature=sign(params, token=TOKEN_B, path=path)).status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_changed_token_is_seen_at_once(client, tenants):
    """The signature check remembers numbers and tokens briefly; a new token must still work immediately."""
    a, _ = tenants
    params = sms_params(a, sid="SM" + "1" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 200
    a.twilio.auth_token = "acme-rotated-token"
    a.twilio.save()
    params = sms_params(a, sid="SM" + "2" * 32)
    assert post(client, SMS, params, signature=sign(params, token="acme-rotated-token", path=SMS)).status_code == 200
    params = sms_params(a, sid="SM" + "3" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 403
    assert events().count() == 2


def test_a_token_changed_in_another_process_is_seen_at_once(client, tenants):
    """Another process's save clears nothing here: a token that no longer verifies sends the check to the database."""
    from studios.models import ProviderAccount

    a, _ = tenants
    params = sms_params(a, sid="SM" + "4" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 200
    # An UPDATE sends no signal, as if another process had saved it.
    ProviderAccount.objects.unscoped().filter(pk=a.twilio.pk).update(auth_token="rotated-elsewhere")
    params = sms_params(a, sid="SM" + "5" * 32)
    assert post(client, SMS, params, signature=sign(params, token="rotated-elsewhere", path=SMS)).status_code == 200
    assert events().count() == 2


# --- malformed: 400, 405, 413, never 500 ---------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["From", "To", "MessageSid"])
def test_a_signed_text_without_a_required_field_is_a_400(client, tenants, missing):
    a, _ = tenants
    params = sms_params(a, **{missing: None})
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("missing", ["MessageSid", "MessageStatus"])
def test_a_signed_status_without_a_required_field_is_a_400(client, tenants, missing):
    a, _ = tenants
    params = status_params(a, **{missing: None})
    assert post(client, STATUS, params, signature=sign(params, token=TOKEN_A, path=STATUS)).status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [SMS, STATUS])
def test_an_oversized_body_is_a_413(client, tenants, path, settings):
    a, _ = tenants
    params = sms_params(a) if path == SMS else status_params(a)
    params["Body"] = "x" * (settings.WEBHOOK_MAX_BODY_BYTES + 1)
    assert post(client, path, params, signature=sign(params, token=TOKEN_A, path=path)).status_code == 413
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [SMS, STATUS])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_a_405(client, tenants, path, method):
    assert client.generic(method, path).status_code == 405


@pytest.mark.parametrize("path", [SMS, STATUS])
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (FORM, b"\x00\xff\xfe garbage \x80=\x81&&&=%zz%"),
        ("application/octet-stream", b"\x00\x01\x02\xff" * 64),
        ("application/json", b'{"MessageSid": "SM1", "To": "+14155552000"}'),
        ("text/plain", b"MessageSid=SM1&To=%2B14155552000"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nnot a part\r\n--xyz--"),
        ("multipart/form-data", b"no boundary at all"),
        (FORM, ("a=1&" * 2000).encode()),  # more fields than Django parses
        (FORM, b""),
    ],
    ids=["bad-bytes", "octet-stream", "json", "text", "bad-multipart", "multipart-no-boundary", "many-fields", "empty"],
)
def test_garbage_is_a_4xx_never_a_500(client, tenants, path, content_type, body):
    client.raise_request_exception = False
    for signature in (None, "AAAA", sign({}, token=TOKEN_A, path=path)):
        response = post(client, path, {}, signature=signature, content_type=content_type, body=body)
        assert 400 <= response.status_code < 500, (signature, response.status_code, response.content[:200])
    assert not InboundEvent.objects.exists()


def test_garbage_numbers_are_a_4xx(client, tenants):
    a, _ = tenants
    for to in ("not-a-number", "+1", "☎", " "):
        params = sms_params(a, to=to)
        response = post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS))
        assert 400 <= response.status_code < 500 or response.status_code == 200, response.status_code
    # Only a text that verified against our account (AccountSid + its token) is kept, and then flagged.
    assert not events().exclude(status=InboundEvent.Status.FLAGGED).exists()


# --- genuine but unroutable: 200 and flagged -------------------------------------------------------------------
def test_a_genuine_text_to_a_number_we_do_not_have_is_kept_flagged(client, tenants, enqueued):
    a, _ = tenants
    params = sms_params(a, to="+14155553999")
    response = post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS))
    assert response.status_code == 200
    event = events().get()
    assert (event.organization, event.status) == (a.organization, InboundEvent.Status.FLAGGED)
    assert "+14155553999" in event.error
    assert "not one of the organization's numbers" in event.error
    assert event.payload["Body"] == "Is the pool open?"
    assert enqueued == []  # nothing to route; a person looks at it
    assert not Message.objects.unscoped().exists()
    # B's token for a number nobody has, with A's AccountSid: refused.
    params = sms_params(a, to="+14155553998", sid="SM" + "c" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_B, path=SMS)).status_code == 403


def test_a_number_of_another_organization_in_to_never_crosses_over(client, tenants, enqueued):
    """A's account signs a text whose To is B's number: refused (B's number takes B's token)."""
    a, b = tenants
    params = sms_params(a, to=b.number.number)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 403
    assert not InboundEvent.objects.exists()


def test_an_event_whose_number_moved_to_another_organization_is_flagged_not_routed(client, tenants, enqueued):
    a, b = tenants
    params = sms_params(a)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 200
    event = events().get()
    # Before processing, the number passes to organization B.
    number = a.number
    number.organization, number.account, number.studio = b.organization, b.twilio, b.studio
    number.save()
    assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.FLAGGED
    assert not Message.objects.unscoped().exists()


# --- a status callback that beats the send ------------------------------------------------------------------------
def test_a_status_callback_before_the_sid_is_recorded_is_retried_then_applied(client, tenants, enqueued):
    a, _ = tenants
    sid = "SM" + "d" * 32
    message = MessageFactory(
        studio=a.studio,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENDING,
        phone_number=a.number,
        provider="twilio",
        provider_message_id=None,
    )
    params = status_params(a, sid=sid, status="delivered")
    assert post(client, STATUS, params, signature=sign(params, token=TOKEN_A, path=STATUS)).status_code == 200
    event = events("twilio.status").get()
    assert event.idempotency_key == f"{sid}:delivered"

    assert core_webhooks.inbound_event_process(event_id=event.pk) == "retry"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEvent.Status.FAILED, 1)
    assert "No message" in event.error
    # The sweep picks a failed event up again (the task's own retries do the same sooner).
    enqueued.clear()
    assert core_webhooks.inbound_events_sweep(now=timezone.now() + timedelta(minutes=5)) == 1
    assert enqueued == [event.pk]

    # The send task writes the sid; the next attempt applies the status, once.
    Message.objects.unscoped().filter(pk=message.pk).update(provider_message_id=sid, status=Message.Status.ACCEPTED)
    assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.PROCESSED
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.delivered_at is not None
    assert core_webhooks.inbound_event_process(event_id=event.pk) == "skipped"
    # Re-delivered by Twilio: nothing new.
    assert post(client, STATUS, params, signature=sign(params, token=TOKEN_A, path=STATUS)).status_code == 200
    assert events("twilio.status").count() == 1


def test_a_status_callback_for_a_text_we_never_sent_is_flagged_after_its_attempts(client, tenants, enqueued):
    from messaging.services.inbound import STATUS_NOT_FOUND_ATTEMPTS

    a, _ = tenants
    params = status_params(a, sid="SM" + "e" * 32, status="sent")
    assert post(client, STATUS, params, signature=sign(params, token=TOKEN_A, path=STATUS)).status_code == 200
    event = events("twilio.status").get()
    outcomes = [core_webhooks.inbound_event_process(event_id=event.pk) for _ in range(STATUS_NOT_FOUND_ATTEMPTS)]
    assert outcomes == ["retry"] * (STATUS_NOT_FOUND_ATTEMPTS - 1) + [InboundEvent.Status.FLAGGED]
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FLAGGED


def test_a_deleted_number_is_not_remembered_for_signature_checks(client, tenants):
    a, _ = tenants
    extra = PhoneNumberFactory(organization=a.organization, account=a.twilio, studio=a.studio)
    params = sms_params(a, to=extra.number, sid="SM" + "f" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 200
    extra.delete()
    params = sms_params(a, to=extra.number, sid="SM" + "9" * 32)
    assert post(client, SMS, params, signature=sign(params, token=TOKEN_A, path=SMS)).status_code == 200
    assert events().get(idempotency_key=params["MessageSid"]).status == InboundEvent.Status.FLAGGED
