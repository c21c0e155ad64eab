"""Operational tasks."""

from celery import shared_task


@shared_task(acks_late=False, ignore_result=False)
def ping_task() -> str:
    """Answer "pong": proves a worker is consuming the default queue (`manage.py ping_worker`)."""
    return "pong"


@shared_task(acks_late=False)
def heartbeat_task(queue: str) -> None:
    """Published by beat to every queue each HEARTBEAT_INTERVAL_SECONDS: the worker that runs it records that the
    queue is being consumed (core.health, reported by /readyz/background). Expires unrun after a staleness period,
    so a worker coming back does not work through a backlog of them."""
    from core.health import heartbeat_record

    heartbeat_record(f"worker:{queue}")


@shared_task(bind=True, max_retries=6)
def inbound_event_process_task(self, event_id: int) -> str:
    """Process one recorded webhook; a failure is retried with backoff (then left to the sweep, then a person)."""
    from core.webhooks import inbound_event_process

    outcome = inbound_event_process(event_id=event_id)
    if outcome == "retry" and self.request.retries < self.max_retries:
        raise self.retry(countdown=min(2 ** (self.request.retries + 1), 120))
    return outcome


@shared_task
def inbound_events_sweep_task() -> int:
    """Enqueue webhooks whose processing was never started or failed (the safety net behind on_commit)."""
    from core.webhooks import inbound_events_sweep

    return inbound_events_sweep()


@shared_task
def inbound_events_dispatch_task() -> int:
    """Publish a processing task for every recorded webhook not yet queued (the web publishes only this)."""
    from core.webhooks import inbound_events_dispatch

    return inbound_events_dispatch()
