"""Fixtures shared by the messaging tests (append yours; keep names distinctive)."""

from tests.messaging.support import inline_tasks, twilio_world  # noqa: F401
