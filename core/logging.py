"""structlog set-up and the redaction that keeps secrets out of every log line.

Imported by settings, so it must not import Django models.
"""

import functools
import re
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"

# Names (log keys, dict keys, headers, query parameters, frame locals) whose values are credentials wherever they
# appear. First, fragments that mark a credential anywhere in a name (`crm_refresh_token`, `X-Twilio-Signature`,
# `HTTP_AUTHORIZATION`, `sessionid`, `csrfmiddlewaretoken`, `zapikey`, `Idempotency-Key`) ...
SECRET_NAME_PATTERN = re.compile(
    r"(password|passwd|passphrase|secret|token|authorization|cookie|signature|credential|csrf|session_?id|"
    r"(?:api|access|secret|private|signing|encryption|session|license|master|idempotency)[_-]?key)",
    re.IGNORECASE,
)
# ... then whole words of a name (split at `_`, `-`, `.`, spaces and camelCase): `session`, `auth`, ...
SECRET_NAME_WORDS = frozenset({"session", "auth", "pwd", "sig", "jwt", "bearer", "dsn", "otp"})
# ... and `key` as the whole name (a CRM notification URL's `?key=`). `event_key`, `cache_key` stay readable.
SECRET_WHOLE_NAMES = frozenset({"key"})
# Query-string and form parameters that are credentials only there: the OAuth callback's `code`.
SECRET_QUERY_NAMES = frozenset({"code"})

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# Paths under /webhooks/ that carry a secret we issued (a webhook URL token; redact_text looks for them only in text
# holding `/webhooks/`); the secret part is the named group. The new-lead webhook
# of every CRM, `/webhooks/crm/<kind>/leads/<token>/`, its first form `/webhooks/<kind>/leads/<token>/`, and its
# short form `/webhooks/crm/<kind>/<token>/` (a CRM flow's callout; not `leads/` or `notifications/`).
SECRET_PATH_PATTERNS: list[re.Pattern[str]] = [
    re.compile(r"(/webhooks/(?:crm/)?[a-z0-9_-]+/leads/)(?P<secret>[^/?#\s]+)"),
    re.compile(r"(/webhooks/crm/[a-z0-9_-]+/)(?!(?:leads|notifications)(?:[/?#\s]|$))(?P<secret>[^/?#\s]+)"),
]
# `name=value` in a query string, a form body or a log message.
_PARAMETER = re.compile(
    r"(?P<lead>(?P<sep>^|[?&;,\s(\[{])(?P<name>[A-Za-z0-9_.\-\[\]]+)=)(?P<value>[^&;,\s#\"'<>)\]}]+)"
)
# `"name": "value"` or `'name': 'value'` inside a repr or JSON text (an exception message quoting a payload).
_QUOTED_PAIR = re.compile(
    r"(?P<lead>(?P<q>[\"'])(?P<name>[A-Za-z0-9_.\-]+)(?P=q)\s*[:=]\s*)(?P<value>[\"'][^\"']*[\"'])"
)
# Credentials after an auth scheme (the standard ones, and a vendor's own `<Vendor>-oauthtoken`), and our own widget
# tokens, wherever they appear in text.
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<lead>(?:Bearer|Basic|Token|[A-Za-z]+-oauthtoken)\s+)[A-Za-z0-9._~+/=\-]{6,}", re.I
)
_WIDGET_TOKEN = re.compile(r"\bllw_[A-Za-z0-9_\-]{16,}")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a key, header, parameter or variable of this name holds a credential."""
    if SECRET_NAME_PATTERN.search(name):
        return True
    words = [word.lower() for word in _WORD_SPLIT.split(name) if word]
    if words and words[0] == "http":  # a header in a WSGI environ: HTTP_KEY is the header Key
        words = words[1:]
    return any(word in SECRET_NAME_WORDS for word in words) or "_".join(words) in SECRET_WHOLE_NAMES


def _is_secret_parameter(match: re.Match[str]) -> bool:
    name = match.group("name")
    if name.lower() in SECRET_QUERY_NAMES:
        return match.group("sep") in ("", "?", "&", ";")  # in a query string; `status code=200` in prose is not
    return is_secret_name(name)


def redact_text(text: str) -> str:
    """Mask secrets inside a URL, request line or message: `GET /webhooks/crm/<kind>/leads/<token>/?code=...`,
    `?key=...`, `password=...`, `'refresh_token': '...'`, `Bearer ...`.

    Each pattern runs only where the text holds what it needs to match (a `/webhooks/` path, `=`, a quote, an auth
    scheme's word, a widget token's prefix): most strings of a log line (its time, level, logger, request id, a
    path without a query) hold none of them, and the patterns were a third of a log line's cost."""
    if "/webhooks/" in text:
        for pattern in SECRET_PATH_PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    if "=" in text:
        text = _PARAMETER.sub(lambda m: m.group("lead") + REDACTED if _is_secret_parameter(m) else m.group(0), text)
    if '"' in text or "'" in text:
        text = _QUOTED_PAIR.sub(
            lambda m: (
                f"{m.group('lead')}{m.group('q')}{REDACTED}{m.group('q')}"
                if is_secret_name(m.group("name"))
                else m.group(0)
            ),
            text,
        )
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered or "token" in lowered:  # `token` also in `Token`, `-oauthtoken`
        text = _SCHEME_CREDENTIAL.sub(lambda m: m.group("lead") + REDACTED, text)
    if "llw_" in text:
        text = _WIDGET_TOKEN.sub(REDACTED, text)
    return text


def redact_value(key: Any, value: Any) -> Any:
    """`value` as it may be shown under `key`: masked if the key names a credential, else with its nested
    dicts, lists and strings redacted the same way."""
    if isinstance(key, str) and is_secret_name(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, Mapping):
        return {k: redact_value(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # A (name, value) pair, as headers and query parameters often come: the name decides.
        if len(value) == 2 and isinstance(value[0], str) and is_secret_name(value[0]) and value[1] not in (None, ""):
            return [value[0], REDACTED]
        return [redact_value(None, item) for item in value]
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
