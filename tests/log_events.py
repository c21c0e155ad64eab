"""What a test reads of the log lines pytest's caplog captured, whichever logger wrote them."""

from __future__ import annotations

import logging
from collections.abc import Iterable


def event_name(record: logging.LogRecord) -> str:
    """The event of a structlog line (its record's msg is the event dict until a formatter renders it), or the
    message of a plain stdlib one."""
    if isinstance(record.msg, dict):
        return str(record.msg.get("event", ""))
    return record.getMessage()


def logged_events(records: Iterable[logging.LogRecord]) -> list[str]:
    return [event_name(record) for record in records]
