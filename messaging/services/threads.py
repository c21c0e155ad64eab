"""Contacts and conversations: found or created under their unique constraints, so concurrent webhooks and
sends for the same person end up in one row."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import Contact, Conversation, Message
from studios.models import Membership, Organization, Studio


def contact_get_or_create(*, organization: Organization, phone: str, name: str = "") -> Contact:
    contacts = Contact.objects.for_organization(organization)
    contact = contacts.filter(phone=phone).first()
    if contact is None:
        try:
            with transaction.atomic():
                contact = Contact.unscoped_objects.create(organization=organization, phone=phone, name=name)
        except IntegrityError:  # another request created it a moment ago
            contact = contacts.get(phone=phone)
    if name and not contact.name:
        contact.name = name
        contact.save(update_fields=["name", "updated_at"])
    return contact


def conversation_get_or_create(*, contact: Contact, studio: Studio | None) -> Conversation:
    """The thread of a studio and a contact; without a studio, the contact's place in the unassigned queue."""
    conversations = Conversation.objects.for_organization(contact.organization).filter(contact=contact, studio=studio)
    conversation = conversations.first()
    if conversation is None:
        try:
            with transaction.atomic():
                conversation = Conversation.unscoped_objects.create(
                    organization=contact.organization, contact=contact, studio=studio
                )
        except IntegrityError:
            conversation = conversations.get()
    return conversation


def conversation_touch(*, conversation: Conversation, message: Message, attention: str = "") -> None:
    """Move the thread to the top; an inbound text counts as unread; `attention` flags it for a person."""
    changes: dict = {"last_message_at": message.created_at, "updated_at": timezone.now()}
    if message.direction == Message.Direction.INBOUND:
        changes["unread_count"] = F("unread_count") + 1
    if attention:
        changes["needs_attention"] = True
        changes["attention_reason"] = attention[:300]
    Conversation.objects.for_organization(conversation.organization).filter(pk=conversation.pk).update(**changes)


def conversation_flag(*, conversation: Conversation, reason: str) -> None:
    """Flag a thread for a person without counting its last text again (what conversation_touch would do)."""
    Conversation.objects.for_organization(conversation.organization).filter(pk=conversation.pk).update(
        needs_attention=True, attention_reason=reason[:300], updated_at=timezone.now()
    )


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
