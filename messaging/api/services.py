"""Writes the API needs that messaging/services does not have yet.

`conversation_mark_read` belongs in messaging/services/threads.py; it lives here only because that module was
closed to this change. Move it there (and this import) when next touching threads.py.
"""

from __future__ import annotations

from django.utils import timezone

from messaging.models import Conversation, Message
from studios.models import Membership


def conversation_mark_read(
    *, conversation: Conversation, member: Membership, last_seen_message_id: int | None = None
) -> Conversation:
    """Mark a conversation read by a member who can see it (the update is scoped to what they see). With
    `last_seen_message_id`, texts that arrived after the one the member saw stay unread."""
    unread = 0
    if last_seen_message_id is not None:
        unread = (
            Message.objects.visible_to(member)
            .filter(conversation=conversation, direction=Message.Direction.INBOUND, id__gt=last_seen_message_id)
            .count()
        )
    Conversation.objects.visible_to(member).filter(pk=conversation.pk).update(
        unread_count=unread, updated_at=timezone.now()
    )
    conversation.unread_count = unread
    return conversation
