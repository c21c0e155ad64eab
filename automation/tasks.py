"""Automation tasks: thin; each loads by id, calls one service and owns the retry: a service says how long its
item must wait (Progress.retry_in, also saved as next_attempt_at for the due sweep) and the task publishes the
next try. Services never re-enqueue themselves."""

from __future__ import annotations

from celery import shared_task

from django.utils import timezone


@shared_task
def lead_intake_process_task(intake_id: int) -> str:
    from automation.services.intake import lead_intake_enqueue, lead_intake_process

    progress = lead_intake_process(intake_id=intake_id)
    if progress.retry_in is not None:
        lead_intake_enqueue(intake_id, countdown=progress.retry_in)
    return progress.outcome


@shared_task
def reply_process_task(reply_id: int) -> str:
    from automation.services.replies import reply_enqueue, reply_process

    progress = reply_process(reply_id=reply_id)
    if progress.retry_in is not None:
        reply_enqueue(reply_id, countdown=progress.retry_in)
    return progress.outcome


@shared_task
def automation_due_task() -> int:
    """Every minute: intakes and replies whose wait is over, or whose task was lost (the safety net)."""
    from automation.selectors import lead_intakes_due, replies_due
    from automation.services.intake import lead_intake_enqueue
    from automation.services.replies import reply_enqueue

    now = timezone.now()
    intakes, replies = lead_intakes_due(now=now), replies_due(now=now)
    for intake_id in intakes:
        lead_intake_enqueue(intake_id)
    for reply_id in replies:
        reply_enqueue(reply_id)
    return len(intakes) + len(replies)


@shared_task
def crm_write_backs_flush_task() -> int:
    """Every minute: write pending opt-out changes to the CRM."""
    from automation.services.crm_write_back import crm_write_backs_flush

    return crm_write_backs_flush()


@shared_task
def crm_timeline_flush_task() -> int:
    """Every minute: log pending texts on their CRM records' timelines."""
    from automation.services.crm_timeline import crm_timeline_flush

    return crm_timeline_flush().settled
