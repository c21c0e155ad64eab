"""Status callbacks stay in their tenant: a callback signed with organization B's token names a MessageSid of
organization A. It is recorded (it verified), but it changes nothing of A's: not the message's status, not A's
opt-out ledger (error 21610). It is flagged for operators and logged as a warning."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from django.conf import settings as django_settings

from core import webhooks as core_webhooks
from core.models import InboundEvent
from messaging.models import Message, OptOut
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db

STATUS = "/webhooks/twilio/status/"
LEAD = "+16175550142"
TOKEN_A = "acme-twilio-token-0001"
TOKEN_B = "bolt-twilio-token-0002"
SID = "SM" + "7" * 32


@pytest.fixture
def tenants(tenant_a, tenant_b, monkeypatch):
    for tenant, token in ((tenant_a, TOKEN_A), (tenant_b, TOKEN_B)):
        tenant.twilio.auth_token = token
        tenant.twilio.save()
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", lambda event_id, countdown=None: None)
    return tenant_a, tenant_b


def a_sent_message(tenant, *, sid=SID) -> Message:
    return MessageFactory(
        studio=tenant.studio,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENT,
        phone_number=tenant.number,
        to_number=LEAD,
        provider="twilio",
        provider_message_id=sid,
    )


def post_status(client, *, signer, token, sid=SID, status="undelivered", from_number=None, account_sid=None, **extra):
    params = {
        "MessageSid": sid,
        "AccountSid": account_sid or signer.twilio.account_sid,
        "From": from_number or signer.number.number,
        "To": LEAD,
        "MessageStatus": status,
        "ApiVersion": "2010-04-01",
        **extra,
    }
    signature = RequestValidator(token).compute_signature(django_settings.PUBLIC_BASE_URL + STATUS, params)
    response = client.generic(
        "POST",
        STATUS,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 200, response.content
    return InboundEvent.objects.get(source="twilio.status", idempotency_key=f"{sid}:{status}")


@pytest.mark.parametrize(
    "from_number",
    [
        pytest.param(None, id="from-b-number"),
        pytest.param("+14155550999", id="from-an-unknown-number-verified-by-account-sid"),
    ],
)
def test_a_callback_signed_by_b_never_changes_as_message_or_opt_out(client, tenants, from_number):
    a, b = tenants
    message = a_sent_message(a)
    with capture_logs() as logs:
        event = post_status(client, signer=b, token=TOKEN_B, from_number=from_number, ErrorCode="21610")
        assert event.organization == b.organization
        assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.FLAGGED

    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.SENT, "")
    assert not OptOut.objects.unscoped().exists()
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FLAGGED
    assert "not applied" in event.error
    # The flag names nothing of organization A: B's managers may read their own events.
    assert a.organization.slug not in event.error
    assert a.organization.name not in event.error
    warnings = [entry for entry in logs if entry["event"] == "twilio_status_tenant_mismatch"]
    assert warnings
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["message_organization"] == a.organization.slug


def test_a_callback_of_the_right_organization_but_another_account_is_flagged(client, tenants):
    from tests.factories import PhoneNumberFactory, TwilioAccountFactory

    a, _ = tenants
    other = TwilioAccountFactory(
        organization=a.organization, name="acme-second", auth_token="acme-second-token", is_default=False
    )
    other_number = PhoneNumberFactory(organization=a.organization, account=other, studio=a.other_studio)
    message = a_sent_message(a)  # sent from a.number, on a.twilio
    event = post_status(
        client,
        signer=a,
        token="acme-second-token",
        from_number=other_number.number,
        account_sid=other.account_sid,
        status="delivered",
    )
    assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.FLAGGED
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_the_genuine_callback_still_applies(client, tenants):
    a, _ = tenants
    message = a_sent_message(a)
    event = post_status(client, signer=a, token=TOKEN_A, status="delivered")
    assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.PROCESSED
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
