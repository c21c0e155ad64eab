"""structlog: one JSON object per line, with the request id (requests) or task id (Celery tasks) on every line.

LOG_FORMAT=console gives readable lines for local work; the default is JSON.
"""

from config.env import env
from core.logging import configure_structlog, formatter_config

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="json")

configure_structlog()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structured": formatter_config(LOG_FORMAT)},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # django-structlog logs every request once; Django's own request loggers would say it again.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

DJANGO_STRUCTLOG_CELERY_ENABLED = True
# Keep a request id that our own proxy sends, so one id follows a request across hops.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = env.bool("TRUST_UPSTREAM_REQUEST_ID", default=False)

__all__ = [
    "DJANGO_STRUCTLOG_CELERY_ENABLED",
    "DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID",
    "LOGGING",
    "LOG_FORMAT",
    "LOG_LEVEL",
]
