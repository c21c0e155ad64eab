"""Messaging tasks: thin; each loads by id, calls one service and decides on retries."""

from __future__ import annotations

from celery import shared_task

from messaging.providers import registry as sms_providers
from messaging.services.sending import (
    message_deliver,
    message_send_enqueue,
    messages_retry_due,
    messages_stale_sending_flag,
)


@shared_task
def message_send_task(message_id: int) -> str:
    """Send one queued message; when every provider is down, schedule the next try (the claim makes a duplicate
    task, or the retry sweep running at the same time, send nothing)."""
    delivery = message_deliver(message_id=message_id)
    if delivery.retry_in is not None:
        message_send_enqueue(message_id, countdown=delivery.retry_in)
    return delivery.outcome


@shared_task
def messages_retry_due_task() -> int:
    """Every 30 s: sends whose backoff has elapsed, and queued ones whose task was lost."""
    return messages_retry_due()


@shared_task
def messages_stale_sending_task() -> int:
    """Every 5 min: flag sends a dead worker left half-done."""
    return messages_stale_sending_flag()


# Each provider package's own tasks (e.g. a poll of providers that send no webhooks), so a worker that loads this
# module (Celery's autodiscovery does) registers them.
sms_providers.tasks_import()
