"""The Celery app. Settings come from Django settings under the CELERY_ namespace (config/settings/integrations)."""

import os

import structlog
from celery import Celery
from celery.signals import beat_init, before_task_publish, setup_logging
from django_structlog.celery.steps import DjangoStructLogInitStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("leadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every log line of a task carries its task id (and the request id of the request that enqueued it).
app.steps["worker"].add(DjangoStructLogInitStep)


@setup_logging.connect
def configure_worker_logging(**_kwargs) -> None:
    """Workers log through Django's LOGGING (structlog JSON) instead of Celery's own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


_beat_heartbeat = {"in_beat": False, "last": 0.0}
BEAT_HEARTBEAT_EVERY_SECONDS = 10.0


@beat_init.connect
def beat_heartbeat_start(**_kwargs) -> None:
    """This process is the scheduler: from now on, each task it publishes is its heartbeat."""
    _beat_heartbeat["in_beat"] = True
    _beat_heartbeat_record()


@before_task_publish.connect
def beat_heartbeat_on_publish(headers=None, **_kwargs) -> None:
    """Beat is alive when it publishes a scheduled task (django-celery-beat marks those with their name)."""
    if _beat_heartbeat["in_beat"] or (headers or {}).get("periodic_task_name"):
        _beat_heartbeat_record()


def _beat_heartbeat_record() -> None:
    import time

    now = time.time()
    if now - _beat_heartbeat["last"] < BEAT_HEARTBEAT_EVERY_SECONDS:
        return
    _beat_heartbeat["last"] = now
    try:
        from core.health import heartbeat_record

        heartbeat_record("beat", at=now)
    except Exception:
        # Never in the way of publishing: a missing heartbeat is itself what /readyz/background reports.
        structlog.get_logger(__name__).warning("beat_heartbeat_failed", exc_info=True)


@app.on_after_configure.connect
def prepare_filesystem_broker(sender: Celery, **_kwargs) -> None:
    """The filesystem transport needs its folders to exist before the first message."""
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            os.makedirs(options[key], exist_ok=True)
        backend = str(settings.CELERY_RESULT_BACKEND or "")
        if backend.startswith("file://"):
            os.makedirs(backend.removeprefix("file://"), exist_ok=True)
