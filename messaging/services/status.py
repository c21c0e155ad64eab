"""Delivery statuses move forward only: callbacks and polls arrive out of order and more than once, so a late
`sent` never overwrites `delivered`, and a duplicate changes nothing."""

from __future__ import annotations

from datetime import datetime

import structlog

from django.db import transaction
from django.utils import timezone

from messaging.errors import error_explain
from messaging.models import Message
from messaging.services.opt_out import opt_out_provider_refusal

logger = structlog.get_logger(__name__)

S = Message.Status
RANK = {
    S.QUEUED: 0,
    S.SENDING: 0,
    S.PENDING: 0,
    S.ACCEPTED: 1,
    S.SENT: 2,
    S.DELIVERED: 3,
    S.UNDELIVERED: 3,
    S.FAILED: 3,
    S.READ: 4,
    S.RECEIVED: 0,
}
OPT_OUT_ERROR_CODES = frozenset({"21610"})
# Failures we concluded ourselves without hearing from the provider: any later word from it is better news.
GUESSED_FAILURES = frozenset({"outcome_unknown"})


class StatusOutOfScope(Exception):
    """The message a status names was not sent by the organization (or provider account) whose credentials the
    status came with: a provider's message id is no secret, so it is never authority on its own."""

    def __init__(self, message: Message):
        super().__init__(f"message {message.pk} is outside the status's scope")
        self.message = message


def message_status_apply(
    *,
    provider: str,
    provider_message_id: str,
    status: str,
    error_code: str = "",
    error_message: str = "",
    occurred_at: datetime | None = None,
    organization_id: int | None = None,
    account_sid: str | None = None,
) -> Message | None:
    """Apply a provider's status to the message it names. None when no such message exists (yet: a callback can
    beat the send task's own write of the message id); the caller decides whether to try again.

    A webhook passes whom it verified: `organization_id`, and the provider `account_sid` it names. A message of
    another organization, or sent from a number of another account, raises StatusOutOfScope and is not touched
    (nor is anyone's opt-out)."""
    with transaction.atomic():
        messages = Message.objects.unscoped().filter(provider=provider, provider_message_id=provider_message_id)
        if organization_id is not None or account_sid:
            # Checked before the row is locked: a foreign callback must not even hold another tenant's row.
            found = messages.select_related("organization", "phone_number__account").first()
            if found is not None and not _in_scope(found, organization_id=organization_id, account_sid=account_sid):
                raise StatusOutOfScope(found)
        message = messages.select_for_update().first()
        if message is None:
            return None
        guessed = message.status == S.FAILED and message.error_code in GUESSED_FAILURES
        if RANK.get(status, -1) <= RANK.get(message.status, 0) and not (guessed and RANK.get(status, -1) > 0):
            return message  # older or equal news: keep what we know (our own guesses yield to the provider)
        message.status = status
        fields = ["status", "updated_at"]
        if guessed:
            message.error_code, message.error_message = "", ""
            fields += ["error_code", "error_message"]
        if status in (S.DELIVERED, S.READ) and message.delivered_at is None:
            message.delivered_at = occurred_at or timezone.now()
            fields.append("delivered_at")
        if error_code:
            message.error_code = str(error_code)
            message.error_message = error_explain(str(error_code), error_message)
            fields += ["error_code", "error_message"]
        message.save(update_fields=fields)
        if str(error_code) in OPT_OUT_ERROR_CODES:
            # A refusal of this sender (Twilio blocks per sender), not necessarily the person's consent.
            opt_out_provider_refusal(
                organization=message.organization,
                sender=message.from_number,
                phone=message.to_number,
                provider=message.provider,
                code=str(error_code),
                message=message,
            )
    logger.info("message_status", message_id=message.pk, status=status, error_code=error_code)
    return message


def _in_scope(message: Message, *, organization_id: int | None, account_sid: str | None) -> bool:
    if organization_id is not None and message.organization_id != organization_id:
        return False
    if account_sid:
        account = message.phone_number.account if message.phone_number_id else None
        return account is not None and account.account_sid == account_sid
    return True
