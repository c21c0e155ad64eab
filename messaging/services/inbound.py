"""Processors of recorded Twilio webhooks (core.webhooks calls them from the event task)."""

from __future__ import annotations

import structlog

from core.models import InboundEvent
from core.phone import normalize_e164
from core.webhooks import EventFlagged, EventNotReady, processor
from messaging.phones import sender_normalize
from messaging.providers.twilio import STATUS_MAP
from messaging.selectors import inbound_number_get
from messaging.services.receiving import message_receive
from messaging.services.status import StatusOutOfScope, message_status_apply

logger = structlog.get_logger(__name__)

# A status callback whose message is not found is retried this many times (the send task may not have written
# the MessageSid yet), then flagged: it may be a text sent outside Leadline from our number.
STATUS_NOT_FOUND_ATTEMPTS = 5


@processor("twilio.sms")
def twilio_sms_process(event: InboundEvent) -> None:
    payload = event.payload
    number = inbound_number_get(provider="twilio", number=normalize_e164(payload["To"]))
    if number is None or number.organization_id != event.organization_id:
        raise EventFlagged(f"A text to {payload['To']}, which is not one of the organization's numbers")
    # A sender the phone library calls invalid (a short code, a number newer than its data) is kept as sent: the
    # text is saved and a STOP from it still reaches the ledger.
    sender = sender_normalize(payload["From"])
    if sender is None:
        raise EventFlagged(f"The sender {payload['From']!r} is not a phone number")
    message_receive(
        phone_number=number,
        from_number=sender,
        body=payload.get("Body", ""),
        provider="twilio",
        provider_message_id=payload["MessageSid"],
        occurred_at=event.received_at,
        opt_out_type=payload.get("OptOutType", ""),
    )


@processor("twilio.status")
def twilio_status_process(event: InboundEvent) -> None:
    payload = event.payload
    twilio_status = payload.get("MessageStatus", "")
    status = STATUS_MAP.get(twilio_status)
    if status is None:
        raise EventFlagged(f"Unknown Twilio status {twilio_status!r}")
    try:
        # Scoped to whom the webhook verified: the event's organization, and the account the signed payload names.
        message = message_status_apply(
            provider="twilio",
            provider_message_id=payload["MessageSid"],
            status=status,
            error_code=payload.get("ErrorCode", ""),
            error_message=payload.get("ErrorMessage", ""),
            organization_id=event.organization_id,
            account_sid=payload.get("AccountSid", ""),
        )
    except StatusOutOfScope as exc:
        logger.warning(
            "twilio_status_tenant_mismatch",
            event_id=event.pk,
            sid=payload["MessageSid"],
            account_sid=payload.get("AccountSid", ""),
            event_organization=event.organization.slug if event.organization_id else None,
            message_organization=exc.message.organization.slug,
            message_id=exc.message.pk,
        )
        # Shown to the event's organization too: it names nothing beyond what the callback itself said.
        raise EventFlagged(
            f"Status {twilio_status!r} for {payload['MessageSid']} names a text this organization's Twilio account "
            f"{payload.get('AccountSid', '')} did not send; not applied."
        ) from exc
    if message is None:
        if event.attempts >= STATUS_NOT_FOUND_ATTEMPTS:
            raise EventFlagged(f"No message {payload['MessageSid']} was sent by Leadline")
        raise EventNotReady(f"No message {payload['MessageSid']} yet")
