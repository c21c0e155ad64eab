"""Idempotency keys of send requests: a retry of a send whose answer was lost (a dropped connection, a double
click) must not text the lead twice.

The first request with a key claims it by inserting its row inside the request's transaction; the row is unique per
(organization, member, key), so a concurrent duplicate's INSERT waits for that transaction and then finds the key
taken (PostgreSQL), and replays the answer stored with it. A request that is refused rolls its transaction back and
with it the claim, so the person can fix the cause and retry the same text with the same key. Keys live 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from messaging.models import SendRequest
from studios.models import Membership

logger = structlog.get_logger(__name__)

KEY_LIFETIME = timedelta(hours=24)
# Visible ASCII only (what a UUID, a ULID or any client's random token is made of), at most 255 characters.
KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")


class SendRequestConflict(Exception):
    """The key is taken by another request (`code`: idempotency_key_reused) or its first request has not been
    answered yet (idempotency_key_in_progress)."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class Replay:
    """The stored answer of the key's first request."""

    status: int
    body: Any


def send_request_key_check(key: str) -> str:
    if not KEY_FORMAT.fullmatch(key):
        raise ApplicationError(
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters (a UUID, for example).",
            extra={"field": "Idempotency-Key"},
        )
    return key


def send_request_fingerprint(*, method: str, path: str, data: Any) -> str:
    """What makes two requests "the same": method, path and body (key order does not matter)."""
    text = json.dumps([method.upper(), path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def send_request_claim(*, member: Membership, key: str, fingerprint: str) -> SendRequest | Replay:
    """Claim `key` for this request (returns its row, to be answered), or the first request's answer to replay.
    Must run inside the request's transaction. Raises SendRequestConflict for another request under the key."""
    send_request_key_check(key)
    organization = member.organization
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a taken key must not break the request's transaction
            claimed = SendRequest.unscoped_objects.create(
                organization=organization, member=member, key=key, fingerprint=fingerprint, created_at=now
            )
    except IntegrityError:
        pass
    else:
        # The member's expired keys go as new ones come (no table grows without bound, no scheduler needed).
        SendRequest.objects.for_organization(organization).filter(
            member=member, created_at__lt=now - KEY_LIFETIME
        ).delete()
        return claimed
    existing = SendRequest.objects.for_organization(organization).select_for_update().get(member=member, key=key)
    if existing.created_at < now - KEY_LIFETIME:
        # Expired: the key starts afresh for this request.
        existing.fingerprint, existing.created_at = fingerprint, now
        existing.message, existing.response_status, existing.response_body = None, None, None
        existing.save()
        return existing
    if existing.fingerprint != fingerprint:
        raise SendRequestConflict(
            "This Idempotency-Key was already used for a different request in the last 24 hours; nothing was sent. "
            "Use a new key for a new text.",
            code="idempotency_key_reused",
        )
    if existing.response_status is None:  # only where the database does not make the duplicate wait (SQLite)
        raise SendRequestConflict(
            "A request with this Idempotency-Key is still being processed; retry in a moment.",
            code="idempotency_key_in_progress",
        )
    logger.info("send_request_replayed", member_id=member.pk, send_request_id=existing.pk)
    return Replay(status=existing.response_status, body=existing.response_body)


def send_request_answer(*, send_request: SendRequest, status: int, body: Any, message_id: int | None) -> None:
    """Store the answer a claimed key's request got, for its retries."""
    send_request.response_status, send_request.response_body = status, body
    send_request.message_id = message_id
    send_request.save(update_fields=["response_status", "response_body", "message"])
