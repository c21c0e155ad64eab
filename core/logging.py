"""structlog set-up and the redaction that keeps secrets out of every log line.

Imported by settings, so it must not import Django models.
"""

import re
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Keys whose values are credentials wherever they appear (log kwargs, nested dicts, Sentry frames).
SECRET_KEY_PATTERN = re.compile(
    r"(password|passwd|secret|token|api[_-]?key|authorization|cookie|signature|credential|encryption_key)",
    re.IGNORECASE,
)
# Paths that carry a secret we issued (a webhook URL token); the secret part is the named group.
SECRET_PATH_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"(/webhooks/zoho/[a-z_-]+/)(?P<secret>[^/?#]+)"),
]
# Query-string parameters that carry secrets (OAuth codes, zapikey, tokens).
SECRET_QUERY_PATTERN = re.compile(r"((?:code|token|zapikey|refresh_token|access_token|client_secret)=)[^&\s]+", re.I)


def redact_text(text: str) -> str:
    """Mask secrets inside a URL or request line (`GET /webhooks/zoho/leads/<token>/?code=...`)."""
    for pattern in SECRET_PATH_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return SECRET_QUERY_PATTERN.sub(lambda m: m.group(1) + REDACTED, text)


def redact_value(key: str, value: Any) -> Any:
    if isinstance(key, str) and SECRET_KEY_PATTERN.search(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, Mapping):
        return {k: redact_value(k, v) for k, v in value.items()}
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: credentials by key name, and secrets inside request paths, never reach the output."""
    return {key: redact_value(key, value) for key, value in event_dict.items()}


SHARED_PROCESSORS = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def formatter_config(log_format: str) -> dict[str, Any]:
    """A logging formatter that renders structlog and plain stdlib records (Django, Celery) alike."""
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False) if log_format == "console" else structlog.processors.JSONRenderer()
    )
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": [*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    }
