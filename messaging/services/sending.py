"""Sending: a message is saved as `queued` first, then a task hands it to a provider after commit.

The task is idempotent: it claims the row with a conditional UPDATE (queued/pending → sending), so a duplicated
or retried task finds nothing to claim and sends nothing. The opt-out check runs again at the claim, so a STOP
that arrives while a send waits in the queue stops it. When the preferred provider is down, the send fails over
to the studio's number on the other provider; when both are down, it waits as `pending` and is retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import ApplicationError
from core.phone import normalize_e164
from messaging.errors import error_explain
from messaging.models import Message
from messaging.providers import (
    ProviderError,
    ProviderOutcomeUnknown,
    RecipientOptedOut,
    SendResult,
    provider_for,
)
from messaging.selectors import opt_out_get, phone_is_opted_out, sender_block_get, sender_blocks_of
from messaging.services.crm_timeline import crm_timeline_queue
from messaging.services.opt_out import opt_out_provider_refusal
from messaging.services.threads import contact_get_or_create, conversation_get_or_create, conversation_touch
from messaging.text import body_check, body_shape
from studios.models import Membership, PhoneNumber, Studio
from studios.selectors import phone_numbers_serving

logger = structlog.get_logger(__name__)

CLAIMABLE = (Message.Status.QUEUED, Message.Status.PENDING)
# error_code of a pending message whose last send may have been taken: the retry asks before it sends.
OUTCOME_UNKNOWN = "outcome_unknown"
# How many tries in a row may find that provider unable to say whether it took the text before another sends it.
ASK_ATTEMPTS = 4


def member_may_act_for(*, member: Membership, studio: Studio) -> bool:
    """Managers act for any studio of their organization; staff for the studios they work in."""
    if not (member.is_active and member.user.is_active) or member.organization_id != studio.organization_id:
        return False
    return member.is_manager or member.studios.filter(pk=studio.pk).exists()


def region_of(number: str) -> str | None:
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return None


def message_send(
    *,
    studio: Studio,
    to: str,
    body: str,
    sent_by: Membership | None = None,
    from_number: PhoneNumber | None = None,
    kind: str = Message.Kind.MANUAL,
    contact_name: str = "",
) -> Message:
    """Queue a text from a studio to a phone. Refuses, with a reason and before anything is saved, an empty or
    too long body, a number the studio cannot send from, a sender who may not act for the studio, and a
    recipient who opted out (keyword replies excepted: the STOP confirmation goes to someone just opted out)."""
    if not studio.is_active or not studio.organization.is_active:
        raise ApplicationError(f"{studio.name} is inactive; it sends no texts.")
    text = body_check(body)
    on_behalf = False
    if sent_by is not None:
        if not member_may_act_for(member=sent_by, studio=studio):
            raise PermissionDenied(f"You may not send texts for {studio.name}.")
        on_behalf = sent_by.is_manager and not sent_by.studios.filter(pk=studio.pk).exists()
    serving = list(phone_numbers_serving(studio=studio))
    chosen = from_number is not None
    if from_number is None:
        if not serving:
            raise ApplicationError(f"{studio.name} has no active number to text from; a manager can add one.")
        from_number = serving[0]
    elif from_number.pk not in {n.pk for n in serving}:
        raise ApplicationError(
            f"{from_number.number} is not a number of {studio.name}.", extra={"field": "from_number"}
        )
    try:
        to = normalize_e164(to, default_region=region_of(from_number.number))
    except ValidationError as exc:
        raise ApplicationError(exc.messages[0], extra={"field": "to"}) from exc
    organization = studio.organization
    if kind != Message.Kind.KEYWORD_REPLY:
        opt_out = opt_out_get(organization=organization, phone=to)
        if opt_out is not None and opt_out.is_opted_out:
            raise ApplicationError(
                f"{to} opted out of texts on {opt_out.changed_at:%Y-%m-%d} ({opt_out.get_source_display()}); "
                "no text can be sent until they reply START.",
                extra={"code": "opted_out", "field": "to"},
            )
        from_number = _unblocked_sender(
            organization=organization, to=to, chosen=from_number if chosen else None, serving=serving
        )
    shape = body_shape(text)
    with transaction.atomic():
        contact = contact_get_or_create(organization=organization, phone=to, name=contact_name)
        conversation = conversation_get_or_create(contact=contact, studio=studio)
        message = Message.unscoped_objects.create(
            organization=organization,
            studio=studio,
            conversation=conversation,
            contact=contact,
            direction=Message.Direction.OUTBOUND,
            body=text,
            from_number=from_number.number,
            to_number=to,
            phone_number=from_number,
            provider=from_number.provider,
            status=Message.Status.QUEUED,
            segments=shape.segments,
            encoding=shape.encoding,
            sent_by=sent_by,
            on_behalf_of_studio=on_behalf,
            kind=kind,
        )
        conversation_touch(conversation=conversation, message=message)
        transaction.on_commit(partial(message_send_enqueue, message.pk))
    logger.info("message_queued", message_id=message.pk, studio=studio.slug, kind=kind, segments=shape.segments)
    return message


def _unblocked_sender(*, organization, to: str, chosen: PhoneNumber | None, serving: list[PhoneNumber]) -> PhoneNumber:
    """The number to text from, given the provider's blocks per sender: a chosen number the person texted STOP to
    is refused (the provider would refuse it too); without a choice, the studio's first number not blocked."""
    blocked = {block.sender: block for block in sender_blocks_of(organization=organization, phone=to)}
    if chosen is not None and chosen.number not in blocked:
        return chosen
    if chosen is None:
        for number in serving:
            if number.number not in blocked:
                return number
        chosen = serving[0]
    raise ApplicationError(
        f"{to} texted STOP to this number; they must text START to it before {chosen.number} can text them "
        f"(since {blocked[chosen.number].created_at:%Y-%m-%d}). The studio's other numbers can still text them.",
        extra={"code": "sender_blocked", "field": "from_number", "sender": chosen.number},
    )


def message_send_enqueue(message_id: int, countdown: float | None = None) -> None:
    from messaging.tasks import message_send_task

    try:
        message_send_task.apply_async((message_id,), countdown=countdown)
    except Exception:
        # The broker is down. The row is saved as queued/pending, so the retry sweep sends it later; failing the
        # request here would make the caller think the text was lost.
        logger.exception("message_enqueue_failed", message_id=message_id)


@dataclass(frozen=True)
class Delivery:
    """What one send attempt came to: `retry_in` seconds when it must be tried again."""

    outcome: str  # sent, failed, pending, skipped
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """30 s, 60 s, 120 s... capped, with ±20% jitter so a recovered provider is not hit by every send at once."""
    base = settings.MESSAGING_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return min(base, settings.MESSAGING_RETRY_MAX_SECONDS) * random.uniform(0.8, 1.2)  # noqa: S311


def failover_numbers(*, message: Message) -> list[PhoneNumber]:
    """The preferred number first, then the studio's first number on each other provider."""
    preferred = message.phone_number
    numbers = [preferred]
    providers = {preferred.provider}
    if message.studio_id:
        for number in phone_numbers_serving(studio=message.studio):
            if number.provider not in providers and not _blocked(message, number):
                numbers.append(number)
                providers.add(number.provider)
    return numbers


def status_callback_url(*, provider: str) -> str | None:
    if provider == "twilio":
        return settings.PUBLIC_BASE_URL + "/webhooks/twilio/status/"
    return None


def message_deliver(*, message_id: int) -> Delivery:
    """Claim a queued or pending message and hand it to a provider, failing over when the preferred one is down.
    No transaction is open while a provider is called."""
    now = timezone.now()
    claimed = (
        Message.objects.unscoped()
        .filter(pk=message_id, status__in=CLAIMABLE, direction=Message.Direction.OUTBOUND)
        # occurred_at from the claim on: a send whose answer is lost still reached the provider about now, and
        # a provider whose sends are confirmed by polling its logs matches them by this time (a NULL never would).
        .update(status=Message.Status.SENDING, attempts=F("attempts") + 1, occurred_at=now, updated_at=now)
    )
    if not claimed:
        return Delivery("skipped")  # sent, failed, or another worker has it
    message = (
        Message.objects.unscoped()
        .select_related("organization", "studio", "phone_number__account", "conversation")
        .get(pk=message_id)
    )
    if message.kind != Message.Kind.KEYWORD_REPLY and phone_is_opted_out(
        organization=message.organization, phone=message.to_number
    ):
        _fail(message, code="opted_out", text="The lead opted out before the text went out.")
        return Delivery("failed")
    if message.kind != Message.Kind.KEYWORD_REPLY and _blocked(message, message.phone_number):
        _fail(message, code="sender_blocked", text=error_explain("sender_blocked"))
        return Delivery("failed")
    if now - message.created_at > timedelta(seconds=settings.MESSAGING_PENDING_MAX_AGE_SECONDS):
        _fail(message, code="expired", text=error_explain("expired"), attention=True)
        return Delivery("failed")

    skip: set[int] = set()
    note = ""
    if message.error_code == OUTCOME_UNKNOWN and message.phone_number_id:
        # An earlier attempt's outcome was unknown: ask that provider before anything is sent again.
        number = message.phone_number
        try:
            found = _sent_after_all(message, number)
        except ProviderError as exc:
            others = [n for n in failover_numbers(message=message) if n.pk != number.pk]
            if message.attempts <= ASK_ATTEMPTS or not others:
                # Ask again later; with no other provider, keep asking until it can answer (or the text expires).
                return _pending(message, [(number, exc)], code=OUTCOME_UNKNOWN)
            # It has not been able to say for minutes: the other provider sends, and the thread says why.
            skip.add(number.pk)
            note = f"{number.get_provider_display()} stopped answering mid-send and may have sent it too"
        else:
            if found is not None:
                return _record_sent(message, number, found)

    errors: list[tuple[PhoneNumber, ProviderError]] = []
    for number in failover_numbers(message=message):
        if number.pk in skip:
            continue
        provider = provider_for(number)
        try:
            result = provider.send(
                from_number=number.number,
                to_number=message.to_number,
                body=message.body,
                status_callback=status_callback_url(provider=number.provider),
            )
        except ProviderOutcomeUnknown as exc:
            # It may have taken the text: no failover now (the lead could get it twice). Ask at once; otherwise
            # the retry asks again before sending.
            try:
                result = _sent_after_all(message, number, provider=provider)
            except ProviderError:
                result = None
            if result is None:
                Message.objects.unscoped().filter(pk=message.pk).update(phone_number=number)
                return _pending(message, [*errors, (number, exc)], code=OUTCOME_UNKNOWN)
        except ProviderError as exc:
            logger.warning(
                "provider_send_failed", message_id=message.pk, provider=number.provider, code=exc.code, error=str(exc)
            )
            errors.append((number, exc))
            if not exc.fail_over:
                break
            continue
        return _record_sent(message, number, result, note=note)

    number, last = errors[-1]
    if not last.fail_over:  # a rejection: another provider would refuse it too, or must not deliver it
        _fail(message, code=last.code, text=error_explain(last.code, last.message))
        if isinstance(last, RecipientOptedOut):
            opt_out_provider_refusal(
                organization=message.organization,
                sender=number.number,
                phone=message.to_number,
                provider=number.provider,
                code=last.code,
                message=message,
            )
        return Delivery("failed")
    if not any(exc.retryable for _, exc in errors):  # every provider refused our credentials
        _fail(message, code=last.code, text=error_explain(last.code, last.message), attention=True)
        return Delivery("failed")
    return _pending(message, errors, code=last.code)


def _blocked(message: Message, number: PhoneNumber | None) -> bool:
    if number is None:
        return False
    return (
        sender_block_get(organization=message.organization, sender=number.number, phone=message.to_number) is not None
    )


def _sent_after_all(message: Message, number: PhoneNumber, *, provider=None) -> SendResult | None:
    """Whether `number`'s provider took this text after all (since shortly before it was first queued)."""
    return (provider or provider_for(number)).find_sent(
        from_number=number.number,
        to_number=message.to_number,
        body=message.body,
        since=message.created_at - timedelta(minutes=1),
    )


def _record_sent(message: Message, number: PhoneNumber, result: SendResult, *, note: str = "") -> Delivery:
    preferred = message.phone_number
    with transaction.atomic():  # a text that went out, and its place on the CRM timeline, or neither
        _record_sent_row(message, number, result, note=note)
        crm_timeline_queue(message=message)
    logger.info("message_sent", message_id=message.pk, provider=number.provider, failed_over=number != preferred)
    return Delivery("sent")


def _record_sent_row(message: Message, number: PhoneNumber, result: SendResult, *, note: str) -> None:
    preferred = message.phone_number
    Message.objects.unscoped().filter(pk=message.pk).update(
        status=result.status,
        provider=number.provider,
        provider_message_id=result.provider_message_id,
        provider_log_id=result.provider_log_id,
        phone_number=number,
        from_number=number.number,
        failed_over_from=preferred.provider if number.pk != preferred.pk else "",
        segments=result.segments or message.segments,
        occurred_at=timezone.now(),
        next_attempt_at=None,
        error_code="",
        error_message=note,
        updated_at=timezone.now(),
    )


def _pending(message: Message, errors: list[tuple[PhoneNumber, ProviderError]], *, code: str) -> Delivery:
    """No provider took it (or one may have): try again after a backoff."""
    retry_in = backoff_seconds(message.attempts + 1)
    Message.objects.unscoped().filter(pk=message.pk).update(
        status=Message.Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=retry_in),
        error_code=code,
        error_message="; ".join(f"{n.get_provider_display()}: {exc.message}" for n, exc in errors)[:2000],
        updated_at=timezone.now(),
    )
    return Delivery("pending", retry_in=retry_in)


def _fail(message: Message, *, code: str, text: str, attention: bool = False) -> None:
    Message.objects.unscoped().filter(pk=message.pk).update(
        status=Message.Status.FAILED,
        error_code=code,
        error_message=text,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if attention:
        conversation_touch(conversation=message.conversation, message=message, attention=f"A text failed: {text}")
    logger.info("message_failed", message_id=message.pk, code=code)


def messages_retry_due(*, now=None) -> int:
    """Enqueue every pending send whose backoff has elapsed (the scheduler's safety net)."""
    from messaging.selectors import messages_due_for_retry

    ids = messages_due_for_retry(now=now or timezone.now())
    for message_id in ids:
        message_send_enqueue(message_id)
    return len(ids)


def messages_stale_sending_flag(*, now=None) -> int:
    """A message claimed long ago and never finished: the worker died during the provider call, so whether the
    text went out is unknown. Fail it with that reason and flag the thread, rather than risk texting twice."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.MESSAGING_STALE_SENDING_SECONDS)
    stale = list(
        Message.objects.unscoped()
        .select_related("conversation")
        .filter(status=Message.Status.SENDING, updated_at__lt=cutoff)[:500]
    )
    for message in stale:
        _fail(message, code="outcome_unknown", text=error_explain("outcome_unknown"), attention=True)
    return len(stale)
