"""Operational tasks."""

from celery import shared_task


@shared_task(acks_late=False, ignore_result=False)
def ping_task() -> str:
    """Answer "pong": proves a worker is consuming the default queue (`manage.py ping_worker`)."""
    return "pong"
