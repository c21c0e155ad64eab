"""The Celery app. Settings come from Django settings under the CELERY_ namespace (config/settings/integrations)."""

import os

from celery import Celery
from celery.signals import setup_logging
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
