"""Writes the API needs that messaging/services does not have yet.

`conversation_mark_read` belongs in messaging/services/threads.py; it lives here only because that module was
closed to this change. Move it there (and this import) when next touching threads.py.
"""

from __future__ import annotations

from django.utils import timezone

from messaging.models import Conversation
from studios.models import Membership


def conversation_mark_read(*, conversation: Conversation, member: Membership) -> Conversation:
    """Mark a conversation read by a member who can see it (the update is scoped to what they see)."""
    Conversation.objects.visible_to(member).filter(pk=conversation.pk).update(unread_count=0, updated_at=timezone.now())
    conversation.unread_count = 0
    return conversation
