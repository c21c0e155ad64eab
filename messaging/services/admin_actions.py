"""What managers do to conversations from the admin: give an unassigned conversation to a studio, and clear the
"needs attention" flag once a person has looked."""

from __future__ import annotations

import structlog

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import ApplicationError
from messaging.models import Conversation, Message
from studios.models import Membership, Studio

logger = structlog.get_logger(__name__)


def _check_member(*, member: Membership | None, conversation: Conversation) -> None:
    """`member` is the manager acting (None: an operator, who has no membership)."""
    if member is not None and (member.organization_id != conversation.organization_id or not member.is_manager):
        raise ApplicationError("Only a manager of the conversation's organization may do this.")


@transaction.atomic
def conversation_assign(*, conversation: Conversation, studio: Studio, member: Membership | None) -> Conversation:
    """Give an unassigned conversation to a studio of its organization, and clear its "needs attention" flag.

    Its messages move with it (their studio is set where it was empty). If the studio already has a thread with
    this contact (one per studio and contact), the messages join that thread, which takes over the unread count,
    and the emptied unassigned conversation is removed. Returns the studio's conversation."""
    organization = conversation.organization
    _check_member(member=member, conversation=conversation)
    if studio.organization_id != conversation.organization_id:
        raise ApplicationError(f"{studio.name} is not a studio of {organization.name}.")
    if not studio.is_active:
        raise ApplicationError(f"{studio.name} is not active.")
    conversations = Conversation.objects.for_organization(organization)
    # The row lock serialises two managers assigning the same conversation at once.
    current = conversations.select_for_update().get(pk=conversation.pk)
    if current.studio_id == studio.pk:
        return current
    if current.studio_id is not None:
        raise ApplicationError(f"The conversation is already with {current.studio.name}.")

    messages = Message.objects.for_organization(organization).filter(conversation=current)
    target = conversations.select_for_update().filter(studio=studio, contact_id=current.contact_id).first()
    if target is None:
        messages.filter(studio__isnull=True).update(studio=studio)
        current.studio = studio
        current.needs_attention, current.attention_reason = False, ""
        current.save(update_fields=["studio", "needs_attention", "attention_reason", "updated_at"])
        target = current
    else:
        messages.filter(studio__isnull=True).update(studio=studio)
        messages.update(conversation=target)
        last = max(filter(None, [target.last_message_at, current.last_message_at]), default=None)
        conversations.filter(pk=target.pk).update(
            unread_count=F("unread_count") + current.unread_count, last_message_at=last, updated_at=timezone.now()
        )
        current.delete()  # empty now: the studio's thread carries its messages
        target.refresh_from_db()
    logger.info(
        "conversation_assigned",
        organization=organization.slug,
        conversation_id=target.pk,
        studio=studio.slug,
        merged=target.pk != conversation.pk,
        member_id=member.pk if member else None,
    )
    return target


def conversation_attention_clear(*, conversation: Conversation, member: Membership | None) -> None:
    """A person has looked: the conversation no longer needs attention."""
    _check_member(member=member, conversation=conversation)
    Conversation.objects.for_organization(conversation.organization).filter(pk=conversation.pk).update(
        needs_attention=False, attention_reason="", updated_at=timezone.now()
    )
    conversation.needs_attention, conversation.attention_reason = False, ""
