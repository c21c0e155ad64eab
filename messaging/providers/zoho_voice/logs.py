"""Zoho Voice SMS logs as the dedup sees them: one parsed log, and the outcome of bringing a batch in.

Zoho formats numbers for display ("+1 4155550123") and gives times as epoch milliseconds (`submittedTime`) or a
minute-precision string (`sentTime`, time zone UNCONFIRMED, read as UTC). Numbers are normalized by dropping
spaces and punctuation (docs/vendors/zoho-voice.md, SMS logs), which is exact for what Zoho sends and far cheaper
than a full parse; anything that does not look like E.164 afterwards goes through `normalize_e164`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError

from core.phone import normalize_e164
from messaging.models import Message
from messaging.phones import sender_normalize
from messaging.providers.zoho_voice.provider import status_of

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NOT_DIGITS = re.compile(r"[^\d+]")
# Plain strings, not the TextChoices members: cheaper to build, compare and COPY a million times.
INBOUND, OUTBOUND = Message.Direction.INBOUND.value, Message.Direction.OUTBOUND.value
RECEIVED = Message.Status.RECEIVED.value
WINDOW_SECONDS = 5 * 60  # a log and a stored message this close, same numbers and text, are one text


class ZohoVoiceLog(NamedTuple):
    """One SMS log of one of our numbers, in our terms (E.164 numbers, our direction and status). A named tuple:
    a bulk import builds a million of these, and a frozen dataclass costs several times as much to build."""

    log_id: str
    direction: str  # Message.Direction value
    from_number: str
    to_number: str
    body: str
    occurred_at: datetime
    status: str  # Message.Status value
    zoho_status: str
    description: str = ""
    segments: int = 1

    @property
    def customer(self) -> str:
        return self.from_number if self.direction == INBOUND else self.to_number


@dataclass
class IngestResult:
    """What a batch of logs came to; `new_inbound_ids` are the texts this call (and no concurrent one) saved."""

    logs: int = 0
    matched_by_log_id: int = 0
    matched_by_text: int = 0
    inserted: int = 0
    already_stored: int = 0  # a concurrent poller saved it between our match and our insert
    statuses_moved: int = 0
    keywords: int = 0
    new_inbound_ids: list[int] = field(default_factory=list)
    keyword_ids: list[int] = field(default_factory=list)  # new inbound STOP/START/HELP, oldest first

    def add(self, other: IngestResult) -> None:
        for name in ("logs", "matched_by_log_id", "matched_by_text", "inserted", "already_stored"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.statuses_moved += other.statuses_moved
        self.keywords += other.keywords
        self.new_inbound_ids += other.new_inbound_ids
        self.keyword_ids += other.keyword_ids

    def as_dict(self) -> dict[str, int]:
        return {
            "logs": self.logs,
            "matched_by_log_id": self.matched_by_log_id,
            "matched_by_text": self.matched_by_text,
            "inserted": self.inserted,
            "already_stored": self.already_stored,
            "statuses_moved": self.statuses_moved,
            "keywords": self.keywords,
        }


@functools.lru_cache(maxsize=65_536)  # a poll sees the same few numbers (ours above all) again and again
def number_normalize(raw: Any, *, default_region: str | None = None) -> str | None:
    """E.164 from Zoho's display form, or None when it is not a phone number."""
    text = str(raw or "").strip()
    if not text:
        return None
    compact = _NOT_DIGITS.sub("", text)
    if E164.match(compact):
        return compact
    if compact.isdigit() and len(compact) > 10 and E164.match("+" + compact):
        return "+" + compact  # "14155550123": a country code without its +
    try:
        return normalize_e164(text, default_region=default_region)
    except ValidationError:
        return None


def log_time(raw: dict[str, Any]) -> datetime | None:
    submitted = raw.get("submittedTime")
    if isinstance(submitted, int | float) and submitted > 0:
        return datetime.fromtimestamp(submitted / 1000, tz=UTC)
    sent = raw.get("sentTime")
    if isinstance(sent, str):
        try:
            return datetime.strptime(sent.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def log_parse(raw: dict[str, Any], *, our_number: str) -> ZohoVoiceLog | None:
    """A log of `our_number` in our terms, or None for one that is not ours or cannot be read."""
    log_id = str(raw.get("logid") or "").strip()
    kind = str(raw.get("messageType") or "").strip().upper()
    occurred_at = log_time(raw)
    if not log_id or kind not in ("INCOMING", "OUTGOING") or occurred_at is None:
        return None
    if number_normalize(raw.get("senderId")) != our_number:
        return None  # the longCode filter matches by suffix; never take another number's logs
    # A short code or a number the phone library does not know is kept as sent (its STOP must count).
    customer = number_normalize(raw.get("customerNumber"), default_region=None) or sender_normalize(
        str(raw.get("customerNumber") or "")
    )
    if customer is None:
        return None
    inbound = kind == "INCOMING"
    zoho_status = str(raw.get("status") or "").strip().upper()
    segments = raw.get("multipartCount")
    return ZohoVoiceLog(
        log_id=log_id,
        direction=INBOUND if inbound else OUTBOUND,
        from_number=customer if inbound else our_number,
        to_number=our_number if inbound else customer,
        body=str(raw.get("message") or ""),
        occurred_at=occurred_at,
        status=RECEIVED if inbound else status_of(zoho_status),
        zoho_status=zoho_status,
        description=str(raw.get("statusDescription") or "")[:500],
        segments=segments if isinstance(segments, int) and 0 < segments < 100 else 1,
    )


def logs_unique(logs: list[ZohoVoiceLog]) -> list[ZohoVoiceLog]:
    """One entry per log id (overlapping pages repeat logs), keeping the most advanced status seen."""
    from messaging.services.status import RANK

    best: dict[str, ZohoVoiceLog] = {}
    for log in logs:
        seen = best.get(log.log_id)
        if seen is None or RANK.get(log.status, 0) > RANK.get(seen.status, 0):
            best[log.log_id] = log
    return list(best.values())
