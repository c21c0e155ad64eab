"""The Zoho Voice poll: Zoho sends no webhook for incoming texts, so each Zoho Voice number's SMS logs are read
on a schedule and brought in. That is how inbound texts arrive and how outbound statuses move.

A poll reads from the cursor's newest seen log time minus an overlap (logs can appear late, and a status can
change after the log was first seen) and asks Zoho from 14 hours before that (provider.py
FROM_DATE_ZONE_SLACK: Zoho may read `fromDate` in the CRM org's zone; the log-id dedup makes the extra logs free),
page by page until a short page, dedups the batch and commits it, and only then advances the cursor, so a crash
mid-poll re-reads instead of losing anything.

Dedup rule: a log is the stored message with its log id; else the Zoho Voice message still without one that
has the same normalized numbers, direction and text within ±5 minutes (the nearest, one log per message: a
send whose answer was lost, or a text saved before its log existed), which then gets the log id; else it is a
new text. On PostgreSQL a batch is matched set-based (dedup.py); elsewhere (the embedded
SQLite of `make run`) log by log with the same rule. Either way the unique log-id constraint is what keeps two
concurrent pollers from storing one log twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.providers.zoho.conf import zoho_settings
from messaging.models import Message
from messaging.providers import ProviderError
from messaging.providers.zoho_voice import PROVIDER_NAME
from messaging.providers.zoho_voice.logs import (
    WINDOW_SECONDS,
    IngestResult,
    ZohoVoiceLog,
    log_parse,
    logs_unique,
)
from messaging.providers.zoho_voice.models import ZohoVoicePollCursor
from messaging.providers.zoho_voice.provider import LOGS_PAGE_SIZE, ZohoVoiceProvider
from messaging.services.crm_timeline import crm_timeline_queue_many
from messaging.services.receiving import inbound_route, message_keyword_handle, message_receive
from messaging.services.status import RANK, message_status_apply
from messaging.services.threads import contact_get_or_create, conversation_get_or_create, conversation_touch
from messaging.text import body_shape, keyword_of
from studios.models import PhoneNumber

logger = structlog.get_logger(__name__)

BATCH_SIZE = 5000  # logs per transaction on the set-based path
MAX_PAGES = 200  # 20,000 logs in one poll; past that the rest waits for the next poll (logged)
FAILURES = (Message.Status.UNDELIVERED, Message.Status.FAILED)


@dataclass
class PollResult:
    """What one poll of one number read and did."""

    phone_number_id: int
    pages: int = 0
    fetched: int = 0
    ingest: IngestResult = field(default_factory=IngestResult)
    error: str = ""

    def as_dict(self) -> dict:
        return {"phone_number_id": self.phone_number_id, "pages": self.pages, "fetched": self.fetched} | (
            self.ingest.as_dict() | ({"error": self.error} if self.error else {})
        )


def zoho_voice_poll(*, phone_number: PhoneNumber, provider: ZohoVoiceProvider | None = None) -> PollResult:
    """Read one Zoho Voice number's new SMS logs, bring them in, then advance its cursor. Provider errors are
    recorded on the cursor and raised for the task to decide on."""
    cursor = _cursor_of(phone_number)
    provider = provider or ZohoVoiceProvider(account=phone_number.account)
    started = timezone.now()
    since = (cursor.last_seen_at or started) - timedelta(seconds=zoho_settings.VOICE_POLL_OVERLAP_SECONDS)
    result = PollResult(phone_number_id=phone_number.pk)
    logs: list[ZohoVoiceLog] = []
    try:
        for raw in _pages(provider, phone_number=phone_number, since=since, result=result):
            log = log_parse(raw, our_number=phone_number.number)
            # A first poll starts now (minus the overlap): the request's window is wider than asked for (Zoho's
            # fromDate zone), and a new number's older history is not brought in as new texts to act on.
            if log is not None and (cursor.last_seen_at is not None or log.occurred_at >= since):
                logs.append(log)
    except ProviderError as exc:
        ZohoVoicePollCursor.unscoped_objects.filter(pk=cursor.pk).update(
            last_polled_at=started, last_error=str(exc)[:2000]
        )
        logger.warning("zoho_voice_poll_failed", number=phone_number.number, code=exc.code, error=str(exc))
        raise
    result.ingest = zoho_voice_logs_ingest(phone_number=phone_number, logs=logs)
    newest = max((log.occurred_at for log in logs), default=None)
    last_seen = max(filter(None, [cursor.last_seen_at, newest]), default=None)
    # Only now: every batch above has committed, so a crash before this line re-reads the same window.
    ZohoVoicePollCursor.unscoped_objects.filter(pk=cursor.pk).update(
        last_polled_at=started, last_seen_at=last_seen, last_error=""
    )
    logger.info("zoho_voice_polled", number=phone_number.number, **result.as_dict())
    return result


def _cursor_of(phone_number: PhoneNumber) -> ZohoVoicePollCursor:
    cursor, _ = ZohoVoicePollCursor.unscoped_objects.get_or_create(
        phone_number=phone_number, defaults={"organization_id": phone_number.organization_id}
    )
    return cursor


def _pages(provider: ZohoVoiceProvider, *, phone_number: PhoneNumber, since, result: PollResult) -> Iterable[dict]:
    start = 0
    while result.pages < MAX_PAGES:
        page = provider.logs_page(number=phone_number.number, start=start, size=LOGS_PAGE_SIZE, from_date=since)
        result.pages += 1
        result.fetched += len(page)
        yield from page
        if len(page) < LOGS_PAGE_SIZE:  # Zoho says nothing about a total; a short page is the end
            return
        start += len(page)
    logger.warning("zoho_voice_poll_truncated", number=phone_number.number, pages=result.pages)


def zoho_voice_logs_ingest(
    *, phone_number: PhoneNumber, logs: list[ZohoVoiceLog], set_based: bool | None = None
) -> IngestResult:
    """Dedup and store logs of one number, then run the side effects of the texts that are genuinely new."""
    from messaging.providers.zoho_voice.dedup import logs_ingest_set_based

    logs = logs_unique(logs)
    if set_based is None:
        set_based = connection.vendor == "postgresql"
    total = IngestResult()
    if set_based:  # the SQL orders what it needs (inserts by log id, keywords by time)
        for start in range(0, len(logs), BATCH_SIZE):
            batch = logs_ingest_set_based(phone_number=phone_number, logs=logs[start : start + BATCH_SIZE])
            keywords_handle(message_ids=batch.keyword_ids, result=batch)
            crm_timeline_queue_many(organization=phone_number.organization, message_ids=batch.new_inbound_ids)
            total.add(batch)
    else:
        for log in sorted(logs, key=lambda log: (log.occurred_at, log.log_id)):  # a STOP before its START
            total.add(_log_ingest(phone_number, log))
    return total


def keywords_handle(*, message_ids: list[int], result: IngestResult) -> None:
    """STOP/START/HELP of new inbound texts, after they committed, in the order the lead sent them."""
    for message_id in message_ids:
        message = Message.objects.unscoped().select_related("organization", "studio", "phone_number", "contact")
        try:
            message_keyword_handle(message=message.get(pk=message_id))
            result.keywords += 1
        except Exception:
            # The text is saved; one keyword that cannot be applied must not stop the rest of the poll.
            logger.exception("zoho_voice_keyword_failed", message_id=message_id)


# --- log by log (any database) --------------------------------------------------------------------------------
def _log_ingest(phone_number: PhoneNumber, log: ZohoVoiceLog) -> IngestResult:
    result = IngestResult(logs=1)
    messages = Message.objects.unscoped().filter(organization_id=phone_number.organization_id)
    stored = messages.filter(provider_log_id=log.log_id).first()
    if stored is not None:
        result.matched_by_log_id = 1
    else:
        stored = _attach_nearest(messages, log)
        result.matched_by_text = int(stored is not None)
    if stored is not None:
        if stored.direction == Message.Direction.OUTBOUND and RANK.get(log.status, 0) > RANK.get(stored.status, 0):
            failure = log.status in FAILURES
            message_status_apply(
                provider=stored.provider,
                provider_message_id=stored.provider_message_id or log.log_id,
                status=log.status,
                error_code=log.zoho_status if failure else "",
                error_message=log.description if failure else "",
            )
            result.statuses_moved = 1
        return result
    if log.direction == Message.Direction.INBOUND:
        message, created = message_receive(
            phone_number=phone_number,
            from_number=log.from_number,
            body=log.body,
            provider=PROVIDER_NAME,
            provider_message_id=log.log_id,
            provider_log_id=log.log_id,
            occurred_at=log.occurred_at,
        )
        if created:
            result.new_inbound_ids.append(message.pk)
            result.keywords = int(keyword_of(log.body) is not None)  # message_receive handled it
    else:
        created = _outbound_import(phone_number, log)
    result.inserted, result.already_stored = int(created), int(not created)
    return result


def _attach_nearest(messages, log: ZohoVoiceLog) -> Message | None:
    """Give the log's id to the nearest stored message still waiting for one (same numbers, direction, text)."""
    window = timedelta(seconds=WINDOW_SECONDS)
    candidates = messages.filter(
        provider=PROVIDER_NAME,
        provider_log_id__isnull=True,
        from_number=log.from_number,
        to_number=log.to_number,
        direction=log.direction,
        occurred_at__range=(log.occurred_at - window, log.occurred_at + window),
        body=log.body,
    )
    for candidate in sorted(candidates[:50], key=lambda m: (abs(m.occurred_at - log.occurred_at), m.pk)):
        # Conditional, so a concurrent poller that attached another log to it first wins.
        attached = (
            Message.objects.unscoped()
            .filter(pk=candidate.pk, provider_log_id__isnull=True)
            .update(
                provider_log_id=log.log_id,
                provider_message_id=candidate.provider_message_id or log.log_id,
                updated_at=timezone.now(),
            )
        )
        if attached:
            candidate.provider_log_id = log.log_id
            candidate.provider_message_id = candidate.provider_message_id or log.log_id
            return candidate
    return None


def _outbound_import(phone_number: PhoneNumber, log: ZohoVoiceLog) -> bool:
    """A text sent from Zoho Voice itself (its app, not Leadline): into the thread, so the history is whole."""
    contact = contact_get_or_create(organization=phone_number.organization, phone=log.to_number)
    route = inbound_route(phone_number=phone_number, contact=contact)
    conversation = conversation_get_or_create(contact=contact, studio=route.studio)
    failure = log.status in FAILURES
    try:
        with transaction.atomic():
            message = Message.unscoped_objects.create(
                organization=phone_number.organization,
                studio=route.studio,
                conversation=conversation,
                contact=contact,
                direction=Message.Direction.OUTBOUND,
                body=log.body,
                from_number=log.from_number,
                to_number=log.to_number,
                phone_number=phone_number,
                provider=PROVIDER_NAME,
                provider_message_id=log.log_id,
                provider_log_id=log.log_id,
                status=log.status,
                error_code=log.zoho_status if failure else "",
                error_message=log.description if failure else "",
                segments=log.segments,
                encoding=body_shape(log.body).encoding,
                occurred_at=log.occurred_at,
                delivered_at=log.occurred_at if log.status == Message.Status.DELIVERED else None,
            )
    except IntegrityError:
        return False  # a concurrent poller stored this log a moment ago
    conversation_touch(conversation=conversation, message=message)
    return True
