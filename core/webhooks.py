"""One ingress path for every webhook: verify (in the caller), record under a unique key, enqueue after commit,
answer fast. A re-delivery finds its key taken and is answered the same way, with nothing new stored.

Processing happens in `core.tasks.inbound_event_process_task`, which hands the event to the processor
registered for its source. An event whose enqueue was lost (broker down) is picked up by the sweep.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

import structlog

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.models import InboundEvent

logger = structlog.get_logger(__name__)

# The cache key that says "a dispatch is on its way", and how long it may say so without one arriving.
DISPATCH_KEY = "core:inbound-events:dispatch"
DISPATCH_KEY_SECONDS = 5

# source → function(event) that processes it; apps register theirs at import (see messaging/apps.py).
PROCESSORS: dict[str, Callable[[InboundEvent], None]] = {}


class EventNotReady(Exception):
    """The event refers to something not there yet (a status callback that beat the send's own write): retry."""


def processor(source: str) -> Callable:
    def register(func: Callable[[InboundEvent], None]) -> Callable[[InboundEvent], None]:
        PROCESSORS[source] = func
        return func

    return register


def webhook_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """What every webhook view needs before its own checks: POST only, no CSRF (the sender is not a browser), no
    request-wide transaction (`webhook_record` commits the event on its own), and a body over
    WEBHOOK_MAX_BODY_BYTES refused with a 413 before anything parses it. Marked, so that it is served on the lean
    path (`core.middleware.WebhookPathMiddleware`): no session, user, messages or CSRF middleware."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if body_too_large(request):
            logger.warning("webhook_refused", status=413, view=view.__name__)  # the path may hold a token
            return HttpResponse("Request body too large", status=413, content_type="text/plain")
        return view(request, *args, **kwargs)

    webhook = csrf_exempt(require_POST(transaction.non_atomic_requests(checked)))
    webhook.webhook_view = True  # core.middleware.WebhookPathMiddleware runs it without sessions, auth, CSRF, ...
    return webhook


def body_too_large(request: HttpRequest) -> bool:
    """The declared length first (nothing is read for an honest sender's oversized body), then the body read."""
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return True
    if declared > settings.WEBHOOK_MAX_BODY_BYTES:
        return True
    return len(request.body) > settings.WEBHOOK_MAX_BODY_BYTES


def nul_free(value: Any) -> Any:
    """`value` with the NUL character removed from every string in it, dictionary keys included.

    PostgreSQL refuses NUL in text and JSONB (`\\u0000`), so anything a sender typed reaches a column, or a
    query, through this; the body as received is kept in `InboundEvent.raw_body` (see `webhook_record`)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {nul_free(key): nul_free(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nul_free(item) for item in value]
    if isinstance(value, tuple):
        return tuple(nul_free(item) for item in value)
    return value


def webhook_record(
    *,
    source: str,
    key: str,
    payload: dict[str, Any],
    organization=None,
    status: str = InboundEvent.Status.RECEIVED,
    error: str = "",
    raw_body: bytes | None = None,
) -> tuple[InboundEvent | None, bool]:
    """Store a verified webhook under (source, key) and enqueue it after commit. Returns (event, created).

    The payload and key are stored without NUL characters; when that changed either, `raw_body` (the request
    body as received) is stored with them, so nothing the sender sent is lost."""
    stored, stored_key = nul_free(payload), nul_free(key)
    changed = stored_key != key or stored != payload
    if changed:
        logger.info("webhook_nul_removed", source=source, event_key=stored_key)
    event = InboundEvent(
        source=source,
        idempotency_key=stored_key[:200],
        organization=organization,
        payload=stored,
        raw_body=raw_body if changed else None,
        status=status,
        error=nul_free(error),
        received_at=timezone.now(),
    )
    # One statement, a duplicate answered by ON CONFLICT rather than an error: no savepoint inside a caller's
    # transaction, and in autocommit (the webhook views are non-atomic) one round trip instead of BEGIN, INSERT,
    # COMMIT; the row is committed when it returns. Written in SQL: the ORM's create() was a tenth of the CPU.
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL, [field.get_db_prep_save(getattr(event, field.attname), connection) for field in _INSERT_FIELDS]
        )
        row = cursor.fetchone()
    if row is None:
        logger.info("webhook_duplicate", source=source, event_key=stored_key)
        return None, False
    event.pk = row[0]
    event._state.adding, event._state.db = False, connection.alias
    if status == InboundEvent.Status.RECEIVED:
        # After the outer commit inside a transaction; at once in autocommit, where the row is already committed.
        transaction.on_commit(lambda: inbound_event_enqueue(event.pk))
    return event, True


_INSERT_FIELDS = [
    InboundEvent._meta.get_field(name)
    for name in (
        "source",
        "idempotency_key",
        "organization",
        "payload",
        "raw_body",
        "status",
        "error",
        "attempts",
        "received_at",
    )
]
_UNIQUE_KEY_COLUMNS = ", ".join(InboundEvent._meta.get_field(name).column for name in ("source", "idempotency_key"))
_INSERT_SQL = (
    f"INSERT INTO {InboundEvent._meta.db_table} ({', '.join(field.column for field in _INSERT_FIELDS)}) "  # noqa: S608 (our names, values bound)
    f"VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))}) "
    # The conflict target names the unique key's columns (inbound_event_unique_key), not the constraint: SQLite,
    # the embedded default, knows only that form.
    f"ON CONFLICT ({_UNIQUE_KEY_COLUMNS}) DO NOTHING RETURNING id"
)


def inbound_event_enqueue(event_id: int) -> None:
    """Make sure a just-recorded event is processed soon, cheaply enough for the webhook's hot path.

    Publishing one Celery task costs about 0.5 ms of CPU, half of everything else a webhook does. So the web
    process publishes at most one *dispatch* task at a time, guarded by a short-lived cache key (SET NX): under a
    burst, one publish serves every event recorded meanwhile, and the workers publish the per-event tasks (see
    `inbound_events_dispatch` for why none is missed). A lost dispatch is covered by the key's expiry and the
    sweep.

    Even the key's round trip was a quarter of a webhook's CPU, so a process asks the cache at most once per
    WEBHOOK_DISPATCH_COALESCE_SECONDS: a webhook inside the window leaves it to one check at the window's end (a
    timer). Every event is still followed, after its commit, by a check of the key, at most one window later;
    that is all the dispatcher's guarantee needs."""
    if not _dispatch_check_due():
        return
    _dispatch_ensure(event_id)


def _dispatch_ensure(event_id: int | None) -> None:
    """Publish a dispatch task unless one is on its way (the key is set)."""
    try:
        if cache.add(DISPATCH_KEY, event_id or 0, timeout=DISPATCH_KEY_SECONDS):
            from core.tasks import inbound_events_dispatch_task

            inbound_events_dispatch_task.apply_async()
    except Exception:
        # Broker or cache down: the event is saved; the sweep enqueues it later. The sender must still get its 200.
        logger.exception("inbound_event_enqueue_failed", event_id=event_id)


class _Coalescing:
    """This process's window (until when a check of the key is covered) and the one thread that runs the check at
    a window's end, started on first need in each process (a forked web worker starts its own)."""

    lock = threading.Lock()
    until = 0.0
    pending = False  # a webhook inside the window awaits the end-of-window check
    wake = threading.Event()
    thread_pid = 0


def _dispatch_check_due() -> bool:
    """True: check the key now (and open a window). False: the check at the end of the current window covers it."""
    window = settings.WEBHOOK_DISPATCH_COALESCE_SECONDS
    if window <= 0:
        return True
    now = time.monotonic()
    with _Coalescing.lock:
        if now >= _Coalescing.until:
            _Coalescing.until = now + window
            return True
        if not _Coalescing.pending:
            _Coalescing.pending = True
            if _Coalescing.thread_pid != os.getpid():
                _Coalescing.thread_pid = os.getpid()
                threading.Thread(target=_window_ends, name="webhook-dispatch-window", daemon=True).start()
            _Coalescing.wake.set()
    return False


def _window_ends() -> None:
    """At the end of each window that had webhooks, one check covering them all; it opens the next window."""
    while True:
        _Coalescing.wake.wait()
        time.sleep(max(_Coalescing.until - time.monotonic(), 0.0))
        with _Coalescing.lock:
            _Coalescing.pending = False
            _Coalescing.wake.clear()
            _Coalescing.until = time.monotonic() + settings.WEBHOOK_DISPATCH_COALESCE_SECONDS
        _dispatch_ensure(None)
        close_old_connections()  # this thread lives as long as the process: no stale connection kept


@atexit.register
def _window_flush() -> None:
    """A process that exits (a recycled web worker) runs a pending end-of-window check now, not never."""
    with _Coalescing.lock:
        pending, _Coalescing.pending = _Coalescing.pending, False
    if pending:
        _dispatch_ensure(None)


def inbound_event_publish(event_id: int, countdown: float | None = None) -> None:
    """One event's processing task, published now (the dispatcher and the sweep)."""
    from core.tasks import inbound_event_process_task

    try:
        inbound_event_process_task.apply_async((event_id,), countdown=countdown)
    except Exception:
        logger.exception("inbound_event_publish_failed", event_id=event_id)


def inbound_events_dispatch(*, batch: int = 500) -> int:
    """Claim recorded events (received → queued) and publish a processing task for each, until none is left.

    The "dispatch on its way" key stays set while this runs, so a burst costs the web one publish per run; it is
    deleted at the end, then one more look catches what was committed while the key still said "on its way".
    An event committed after the delete schedules the next dispatch itself. Concurrent dispatchers claim
    disjoint rows: the conditional UPDATE re-checks each row's status under its lock."""
    published = _dispatch_pass(batch)
    cache.delete(DISPATCH_KEY)
    return published + _dispatch_pass(batch)


def _dispatch_pass(batch: int) -> int:
    published = 0
    while True:
        ids = list(
            InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return published
        claimed = _claim(ids)
        for event_id in claimed:
            inbound_event_publish(event_id)
        published += len(claimed)


def _claim(ids: list[int]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InboundEvent._meta.db_table} SET status = %s "  # noqa: S608 (our table name, values bound)
            f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND status = %s RETURNING id",
            [InboundEvent.Status.QUEUED, *ids, InboundEvent.Status.RECEIVED],
        )
        return sorted(row[0] for row in cursor.fetchall())


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
            status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.QUEUED, InboundEvent.Status.FAILED],
            attempts__lt=MAX_ATTEMPTS,
            received_at__lt=cutoff,
        )
        .order_by("received_at")
        .values_list("id", flat=True)[:1000]
    )
    for event_id in ids:
        inbound_event_publish(event_id)
    return len(ids)
