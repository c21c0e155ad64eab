"""Liveness and readiness probes.

/healthz answers while the process can serve a request at all. /readyz also checks what a request needs:
the database and the Celery broker; a load balancer stops routing to an instance that answers 503.
"""

import os
import time
from collections.abc import Callable

import structlog
from kombu import Connection

from django.conf import settings
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
