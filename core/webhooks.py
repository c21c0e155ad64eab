"""One ingress path for every webhook: verify (in the caller), record under a unique key, enqueue after commit,
answer fast. A re-delivery finds its key taken and is answered the same way, with nothing new stored.

Processing happens in `core.tasks.inbound_event_process_task`, which hands the event to the processor
registered for its source. An event whose enqueue was lost (broker down) is picked up by the sweep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import InboundEvent

logger = structlog.get_logger(__name__)

# source → function(event) that processes it; apps register theirs at import (see messaging/apps.py).
PROCESSORS: dict[str, Callable[[InboundEvent], None]] = {}


class EventNotReady(Exception):
    """The event refers to something not there yet (a status callback that beat the send's own write): retry."""


def processor(source: str) -> Callable:
    def register(func: Callable[[InboundEvent], None]) -> Callable[[InboundEvent], None]:
        PROCESSORS[source] = func
        return func

    return register


def webhook_record(
    *,
    source: str,
    key: str,
    payload: dict[str, Any],
    organization=None,
    status: str = InboundEvent.Status.RECEIVED,
    error: str = "",
) -> tuple[InboundEvent | None, bool]:
    """Store a verified webhook under (source, key) and enqueue it after commit. Returns (event, created)."""
    fields = {
        "source": source,
        "idempotency_key": key[:200],
        "organization": organization,
        "payload": payload,
        "status": status,
        "error": error,
    }
    try:
        if transaction.get_connection().in_atomic_block:
            # Inside a caller's transaction: a savepoint, so a duplicate does not break that transaction.
            with transaction.atomic():
                event = InboundEvent.objects.create(**fields)
        else:
            # Autocommit (the webhook views are non-atomic): the INSERT is its own transaction, one round trip
            # instead of BEGIN, INSERT, COMMIT. The row is committed when create() returns.
            event = InboundEvent.objects.create(**fields)
    except IntegrityError:
        logger.info("webhook_duplicate", source=source, key=key)
        return None, False
    if status == InboundEvent.Status.RECEIVED:
        # After the outer commit inside a transaction; at once in autocommit, where the row is already committed.
        transaction.on_commit(lambda: inbound_event_enqueue(event.pk))
    return event, True


def inbound_event_enqueue(event_id: int, countdown: float | None = None) -> None:
    from core.tasks import inbound_event_process_task

    try:
        inbound_event_process_task.apply_async((event_id,), countdown=countdown)
    except Exception:
        # Broker down: the event is saved; the sweep enqueues it later. The sender must still get its 200.
        logger.exception("inbound_event_enqueue_failed", event_id=event_id)


def inbound_event_process(*, event_id: int) -> str:
    """Run the event's processor once; idempotent processors make a second run harmless."""
    event = InboundEvent.objects.filter(pk=event_id).first()
    if event is None or event.status in (InboundEvent.Status.PROCESSED, InboundEvent.Status.FLAGGED):
        return "skipped"
    func = PROCESSORS.get(event.source)
    if func is None:
        return _finish(event, InboundEvent.Status.FLAGGED, f"no processor for {event.source!r}")
    InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    event.attempts += 1
    try:
        func(event)
    except EventFlagged as exc:
        return _finish(event, InboundEvent.Status.FLAGGED, str(exc))
    except EventNotReady as exc:
        _finish(event, InboundEvent.Status.FAILED, str(exc))
        return "retry"
    except Exception as exc:
        logger.exception("inbound_event_failed", event_id=event.pk, source=event.source)
        _finish(event, InboundEvent.Status.FAILED, f"{exc.__class__.__name__}: {exc}")
        return "retry"
    return _finish(event, InboundEvent.Status.PROCESSED, "")


class EventFlagged(Exception):
    """The event is genuine but automation cannot act on it (an unknown number): keep it for a person."""


def _finish(event: InboundEvent, status: str, error: str) -> str:
    InboundEvent.objects.filter(pk=event.pk).update(status=status, error=error[:2000], processed_at=timezone.now())
    return status


# Events failed this many times stop being retried by the sweep and wait for a person (they stay listed).
MAX_ATTEMPTS = 8


def inbound_events_sweep(*, now=None, older_than_seconds: int = 60) -> int:
    """Re-enqueue events never processed (lost enqueue) and failed ones still within their attempts."""
    cutoff = (now or timezone.now()) - timedelta(seconds=older_than_seconds)
    ids = list(
        InboundEvent.objects.filter(
            status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED],
            attempts__lt=MAX_ATTEMPTS,
            received_at__lt=cutoff,
        )
        .order_by("received_at")
        .values_list("id", flat=True)[:1000]
    )
    for event_id in ids:
        inbound_event_enqueue(event_id)
    return len(ids)
