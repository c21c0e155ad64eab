"""Periodic upkeep of sign-in state."""

from celery import shared_task


# Task names kept from the app's old module path: beat's stored schedule and queued messages name them.
@shared_task(name="accounts.tasks.widget_tokens_expired_delete_task")
def widget_tokens_expired_delete_task() -> int:
    """Delete widget token rows that expired or were revoked over a day ago (a member who never signs in again
    would otherwise keep theirs forever)."""
    from identity.tokens import widget_tokens_expired_delete

    return widget_tokens_expired_delete()


@shared_task(name="accounts.tasks.sessions_expired_delete_task")
def sessions_expired_delete_task() -> None:
    """Delete expired sessions (Django's `clearsessions`): the database backend never removes a row by itself."""
    from django.core.management import call_command

    call_command("clearsessions")
