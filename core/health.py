"""Liveness and readiness probes, and the heartbeats of the background processes.

/healthz answers while the process can serve a request at all. /readyz also checks what a request needs:
the database and the Celery broker; a load balancer stops routing to an instance that answers 503.

/readyz/background reports the scheduler (beat) and the workers of every queue from outside them, for an uptime
monitor: beat publishes a small heartbeat task per queue every HEARTBEAT_INTERVAL_SECONDS (and records its own
heartbeat whenever it publishes a scheduled task, config/celery.py); the worker that runs it records the time. A
component not heard from for HEARTBEAT_STALE_SECONDS answers 503, naming it and since when, so a stopped worker
or scheduler is noticed while it is down (an alert sent by a beat task cannot be: it waits for the beat). It is a
separate URL on purpose: a load balancer pointed at it would take every web instance out when the scheduler stops.
"""

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from kombu import Connection

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = structlog.get_logger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Open a connection to the broker (Redis, or the folders of the filesystem transport) and close it."""
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    # A filesystem "connection" always succeeds; what matters there is that the folder is usable.
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise OSError(f"broker folder {folder} is missing or not writable")


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


@never_cache
@require_GET
@transaction.non_atomic_requests
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
@transaction.non_atomic_requests
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # any failure means "not ready"; the reason is logged, not shown in full
            ready = False
            results[name] = {"ok": False, "error": type(exc).__name__}
            logger.warning("readiness_check_failed", check=name, error=str(exc))
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)


# --- heartbeats of the background processes ------------------------------------------------------------------------
HEARTBEAT_KEY = "heartbeat:{component}"
HEARTBEAT_KEEP_SECONDS = 7 * 24 * 3600  # a component removed from the settings is forgotten after a week
# A component never heard from is reported only once this process has been up for a full staleness period: right
# after a deploy (or a flushed cache) the first heartbeats are still on their way.
_PROCESS_STARTED = time.time()


def heartbeat_components() -> list[str]:
    """What /readyz/background expects to hear from: the scheduler, and a worker for every queue."""
    return ["beat", *(f"worker:{queue}" for queue in settings.HEARTBEAT_QUEUES)]


def heartbeat_record(component: str, *, at: float | None = None) -> None:
    """Remember that `component` ("beat", "worker:<queue>") was alive at `at` (now by default)."""
    cache.set(HEARTBEAT_KEY.format(component=component), at or time.time(), timeout=HEARTBEAT_KEEP_SECONDS)


def heartbeats_report(*, now: float | None = None) -> tuple[bool, dict[str, dict[str, object]]]:
    """(all fresh, per component: ok, last_seen (ISO, UTC) and age_seconds, or last_seen None if never seen)."""
    now = now or time.time()
    stale_after = settings.HEARTBEAT_STALE_SECONDS
    components = heartbeat_components()
    seen = cache.get_many([HEARTBEAT_KEY.format(component=name) for name in components])
    report: dict[str, dict[str, object]] = {}
    for name in components:
        at = seen.get(HEARTBEAT_KEY.format(component=name))
        if at is None:
            starting = now - _PROCESS_STARTED < stale_after
            report[name] = {"ok": starting, "last_seen": None, "age_seconds": None}
            continue
        age = max(now - float(at), 0.0)
        report[name] = {
            "ok": age <= stale_after,
            "last_seen": datetime.fromtimestamp(float(at), tz=UTC).isoformat(timespec="seconds"),
            "age_seconds": round(age, 1),
        }
    return all(entry["ok"] for entry in report.values()), report


@never_cache
@require_GET
@transaction.non_atomic_requests
def readyz_background(request: HttpRequest) -> JsonResponse:
    try:
        fresh, components = heartbeats_report()
    except Exception as exc:  # the cache is down: nothing can be said about the workers, which need it too
        logger.warning("heartbeat_check_failed", error=str(exc))
        body = {"status": "unavailable", "error": type(exc).__name__}
        return JsonResponse(body, status=503)
    stale = [
        f"{name} since {entry['last_seen']}" if entry["last_seen"] else f"{name} never seen"
        for name, entry in components.items()
        if not entry["ok"]
    ]
    if stale:
        logger.warning("heartbeat_stale", stale=stale)
    body = {
        "status": "ok" if fresh else "stale",
        "stale": stale,
        "stale_after_seconds": settings.HEARTBEAT_STALE_SECONDS,
        "components": components,
    }
    return JsonResponse(body, status=200 if fresh else 503)
