"""Receiving: an inbound text is saved before anything else can fail, then routed and answered.

Routing of a text to one of our numbers: the number's studio; for a number shared by several studios, the
studio that last texted this contact from it, else the studio of the contact's CRM owner, else the unassigned
queue managers work. STOP/START/HELP are honoured for the whole organization; on numbers whose provider sends no
confirmation of its own, the product sends them itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from core import merge_fields
from messaging import hooks
from messaging.models import Contact, Message, OptOutSource, OptOutState
from messaging.selectors import (
    crm_owner_membership,
    crm_owner_of,
    studio_last_texting_contact,
    studio_of_crm_owner,
    studios_served_by,
)
from messaging.services.crm_timeline import crm_timeline_queue
from messaging.services.opt_out import opt_out_set, sender_block_clear, sender_block_record
from messaging.services.sending import message_send
from messaging.services.threads import (
    contact_get_or_create,
    conversation_flag,
    conversation_get_or_create,
    conversation_touch,
)
from messaging.text import body_shape, keyword_of
from studios.models import TEMPLATE_FIELDS, PhoneNumber, Studio

logger = structlog.get_logger(__name__)

# What we send where the provider sends nothing (Twilio sends its own for STOP/START).
PROVIDERS_CONFIRMING_KEYWORDS = frozenset({"twilio"})
STOP_CONFIRMATION = "{studio_name}: you are unsubscribed and will receive no more texts. Reply START to resubscribe."
START_CONFIRMATION = "{studio_name}: you are subscribed again. Reply HELP for help, STOP to unsubscribe."


@dataclass(frozen=True)
class Route:
    studio: Studio | None
    reason: str  # why this studio, or why none


def inbound_route(*, phone_number: PhoneNumber, contact: Contact) -> Route:
    if phone_number.studio_id:
        return Route(phone_number.studio, "the number's studio")
    studios = studios_served_by(phone_number=phone_number)
    if len(studios) == 1:
        return Route(studios[0], "the only studio the shared number serves")
    if not studios:
        return Route(None, f"{phone_number.number} serves no active studio")
    last = studio_last_texting_contact(phone_number=phone_number, contact=contact, studios=studios)
    if last is not None:
        return Route(last, "the studio that last texted this contact from this number")
    owner = studio_of_crm_owner(owner=crm_owner_of(contact=contact), studios=studios)
    if owner is not None:
        return Route(owner, "the studio of the contact's CRM owner")
    return Route(
        None,
        f"Texted the shared number {phone_number.number}; no studio has texted this person from it and their CRM "
        "owner is unknown. Assign the conversation to a studio.",
    )


def message_receive(
    *,
    phone_number: PhoneNumber,
    from_number: str,
    body: str,
    provider: str,
    provider_message_id: str | None = None,
    provider_log_id: str | None = None,
    occurred_at: datetime | None = None,
    opt_out_type: str = "",
) -> tuple[Message, bool]:
    """Save an inbound text (idempotent on the provider's id), route it, then act on keywords. Returns the
    message and whether it is new; a re-delivered text changes nothing."""
    existing = _existing_inbound(provider, provider_message_id, provider_log_id)
    if existing is not None:
        return existing, False
    organization = phone_number.organization
    shape = body_shape(body or "")
    try:
        with transaction.atomic():
            contact = contact_get_or_create(organization=organization, phone=from_number)
            route = inbound_route(phone_number=phone_number, contact=contact)
            conversation = conversation_get_or_create(contact=contact, studio=route.studio)
            message = Message.unscoped_objects.create(
                organization=organization,
                studio=route.studio,
                conversation=conversation,
                contact=contact,
                direction=Message.Direction.INBOUND,
                body=body or "",
                from_number=from_number,
                to_number=phone_number.number,
                phone_number=phone_number,
                provider=provider,
                provider_message_id=provider_message_id or None,
                provider_log_id=provider_log_id or None,
                status=Message.Status.RECEIVED,
                segments=shape.segments,
                encoding=shape.encoding,
                occurred_at=occurred_at or timezone.now(),
            )
            conversation_touch(
                conversation=conversation, message=message, attention="" if route.studio else route.reason
            )
            crm_timeline_queue(message=message)
    except IntegrityError:
        # The same text saved by a concurrent delivery between our check and our insert.
        existing = _existing_inbound(provider, provider_message_id, provider_log_id)
        if existing is None:
            raise
        return existing, False
    logger.info(
        "message_received", message_id=message.pk, studio=route.studio and route.studio.slug, route=route.reason
    )
    keyword = message_keyword_handle(message=message, opt_out_type=opt_out_type)
    # Other apps' turn (lead automation: a YES asks for the follow-up), registered in messaging/hooks.py.
    hooks.inbound_message_raise(message=message, keyword=keyword)
    return message, True


def _existing_inbound(provider: str, provider_message_id: str | None, log_id: str | None) -> Message | None:
    if provider_message_id:
        found = Message.objects.unscoped().filter(provider=provider, provider_message_id=provider_message_id).first()
        if found is not None:
            return found
    if log_id:
        return Message.objects.unscoped().filter(provider_log_id=log_id).first()
    return None


def message_keyword_handle(*, message: Message, opt_out_type: str = "") -> str | None:
    """STOP/START opt the phone out or back in across the organization; HELP gets the studio's help text.
    Twilio's OptOutType counts as the keyword even where our own list would not match."""
    keyword = (opt_out_type or "").upper() or keyword_of(message.body)
    if keyword not in ("STOP", "START", "HELP"):
        return None
    organization = message.organization
    studio = message.studio or _any_studio_of(message.phone_number)
    if keyword in ("STOP", "START"):
        state = OptOutState.OPTED_OUT if keyword == "STOP" else OptOutState.OPTED_IN
        source = OptOutSource.PROVIDER if opt_out_type else OptOutSource.KEYWORD
        _, changed = opt_out_set(
            organization=organization,
            phone=message.from_number,
            state=state,
            source=source,
            reason=f"Replied {message.body.strip()[:40]!r} to {message.to_number}",
            message=message,
        )
        if message.provider == "twilio":
            # Twilio also blocks the number they texted, for them, until they text START to that same number.
            if keyword == "STOP":
                sender_block_record(
                    organization=organization,
                    sender=message.to_number,
                    phone=message.from_number,
                    provider=message.provider,
                    reason=f"Replied {message.body.strip()[:40]!r} to this number",
                    message=message,
                )
            else:
                sender_block_clear(organization=organization, sender=message.to_number, phone=message.from_number)
        # Twilio confirms STOP/START itself; on other providers' numbers nobody does unless we do.
        if changed and message.provider not in PROVIDERS_CONFIRMING_KEYWORDS and studio is not None:
            template = STOP_CONFIRMATION if keyword == "STOP" else START_CONFIRMATION
            text = merge_fields.render(template, {"studio_name": studio.name}, allowed={"studio_name"}).text
            _reply(message=message, studio=studio, text=text)
        return keyword
    if studio is not None:
        _help_answer(message=message, studio=studio)
    return keyword


def _help_answer(*, message: Message, studio: Studio) -> None:
    """The studio's help text filled in for the contact; a required field that is blank (the contact has no name
    yet, say) sends nothing, logs why and flags the thread, so a person answers instead of a "Hi , ..."."""
    contact = message.contact
    full_name = " ".join((contact.name or "").split())
    first, _, last = full_name.partition(" ")
    owner = crm_owner_membership(contact=contact)
    owner_name = owner.user.full_name if owner else ""
    context = {
        "first_name": first,
        "last_name": last,
        "full_name": full_name,
        "studio_name": studio.name,
        "owner_name": owner_name,
        "owner_first_name": owner_name.split(" ")[0],
    }
    try:
        rendered = merge_fields.render(studio.help_message, context, allowed=TEMPLATE_FIELDS)
        reason = f"HELP answer not sent: {rendered.reason}" if rendered.missing else ""
    except merge_fields.TemplateError as exc:
        rendered, reason = None, f"HELP answer not sent: the help text of {studio.name} is not valid ({exc})"
    if rendered is not None and not reason:
        _reply(message=message, studio=studio, text=rendered.text)
        return
    hooks.keyword_reply_failed_raise(message=message, studio=studio, keyword="HELP", reason=reason)
    conversation_flag(conversation=message.conversation, reason=f"{reason}; answer them yourself.")


def _any_studio_of(phone_number: PhoneNumber | None) -> Studio | None:
    if phone_number is None:
        return None
    studios = studios_served_by(phone_number=phone_number)
    return studios[0] if studios else None


def _reply(*, message: Message, studio: Studio, text: str) -> None:
    """A keyword answer from the number the lead texted, in the studio's name; it goes out even when opted out."""
    try:
        message_send(
            studio=studio,
            to=message.from_number,
            body=text,
            from_number=message.phone_number,
            kind=Message.Kind.KEYWORD_REPLY,
        )
    except Exception:
        # The keyword itself is recorded; a reply that cannot be queued (inactive studio, number moved) must not
        # undo it or fail the inbound text.
        logger.exception("keyword_reply_failed", message_id=message.pk)
