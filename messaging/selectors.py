"""Reads the messaging services and the admin need: opt-out state, routing facts, pending sends."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save

from crm.connections import crm_connection_get
from crm.registry import UnknownCrm, provider_class
from messaging.hooks import CrmOwner, crm_owner_find
from messaging.models import (
    Contact,
    Conversation,
    Message,
    MessagingSettings,
    OptOut,
    OptOutEvent,
    OptOutState,
    SenderBlock,
)
from studios.models import Membership, Organization, PhoneNumber, ProviderAccount, Studio
from studios.selectors import memberships_for_crm_user

# A queued send whose task has not started after this long was probably never enqueued.
QUEUED_GRACE_SECONDS = 120


def opt_out_get(*, organization: Organization, phone: str) -> OptOut | None:
    """The ledger row of a phone in an organization, or None when it never changed state."""
    return OptOut.objects.for_organization(organization).filter(phone=phone).first()


def crm_opt_out_field_get(*, organization: Organization) -> str:
    """The CRM field that mirrors opt-outs for this organization ('' = none): the one its CRM connection sets
    itself (`connection_opt_out_field`), else its saved settings'. Until settings are saved: the field the
    organization's CRM names by default (its provider's `opt_out_field`), else the model's default."""
    connection = crm_connection_get(organization=organization)
    try:
        provider = provider_class(connection.kind) if connection is not None else None
    except UnknownCrm:
        provider = None
    configured = provider.connection_opt_out_field(connection) if provider is not None else ""
    if configured:
        return configured
    row = MessagingSettings.objects.for_organization(organization).first()
    if row is not None:
        return row.crm_opt_out_field
    if provider is not None:
        return provider.opt_out_field
    return MessagingSettings._meta.get_field("crm_opt_out_field").default


def messaging_settings_get(*, organization: Organization) -> MessagingSettings:
    """The organization's messaging settings; an unsaved row of the defaults when none was saved."""
    row = MessagingSettings.objects.for_organization(organization).first()
    return row if row is not None else MessagingSettings(organization=organization)


def phone_is_opted_out(*, organization: Organization, phone: str) -> bool:
    return OptOut.objects.for_organization(organization).filter(phone=phone, state=OptOutState.OPTED_OUT).exists()


def sender_block_get(*, organization: Organization, sender: str, phone: str) -> SenderBlock | None:
    """The provider's block of `sender` (our number) for `phone`, if the person texted STOP to it."""
    return SenderBlock.objects.for_organization(organization).filter(sender=sender, phone=phone).first()


def sender_blocks_of(*, organization: Organization, phone: str) -> list[SenderBlock]:
    """Our numbers that may not text `phone` (each until they text START to it), oldest block first."""
    return list(SenderBlock.objects.for_organization(organization).filter(phone=phone).order_by("created_at", "id"))


def stop_to_sender_on_record(*, organization: Organization, sender: str, phone: str) -> bool:
    """Whether we know the person texted STOP to `sender`: its block, or a STOP to it in the ledger's history
    (recorded before blocks were kept per sender)."""
    if sender_block_get(organization=organization, sender=sender, phone=phone) is not None:
        return True
    return (
        OptOutEvent.objects.for_organization(organization)
        .filter(
            opt_out__phone=phone,
            state=OptOutState.OPTED_OUT,
            message__direction=Message.Direction.INBOUND,
            message__to_number=sender,
        )
        .exists()
    )


def studios_served_by(*, phone_number: PhoneNumber) -> list[Studio]:
    """The active studios one of our numbers serves: its owner, or the studios a shared number serves."""
    if phone_number.studio_id:
        return [phone_number.studio] if phone_number.studio.is_active else []
    limited = list(phone_number.shared_with.filter(is_active=True).order_by("name"))
    if limited:
        return limited
    return list(Studio.objects.for_organization(phone_number.organization).filter(is_active=True).order_by("name"))


def studio_last_texting_contact(*, phone_number: PhoneNumber, contact: Contact, studios: list[Studio]) -> Studio | None:
    """The studio that last texted this contact from this number, among `studios`."""
    last = (
        Message.objects.for_organization(phone_number.organization)
        .filter(
            phone_number=phone_number,
            contact=contact,
            direction=Message.Direction.OUTBOUND,
            studio__in=[s.pk for s in studios],
        )
        .select_related("studio")
        .order_by("-created_at", "-id")
        .first()
    )
    return last.studio if last else None


def studio_of_crm_owner(*, owner: CrmOwner | None, studios: list[Studio]) -> Studio | None:
    """The studio, among `studios`, of the staff member who owns the contact in the CRM."""
    if owner is None or owner.connection is None or not owner.crm_user_id:
        return None
    member = (
        memberships_for_crm_user(connection=owner.connection, crm_user_id=owner.crm_user_id)
        .filter(role=Membership.Role.STAFF)
        .first()
    )
    if member is None:
        return None
    ids = {s.pk for s in studios}
    for studio in member.studios.order_by("name"):
        if studio.pk in ids:
            return studio
    return None


def crm_owner_of(*, contact: Contact) -> CrmOwner | None:
    """The contact's CRM owner: linked by automation, else found by the receivers of `crm_owner_finder` (the CRM
    mirror, by phone: no CRM call). The connection is the organization's CRM connection when none is known."""
    if contact.crm_owner_id:
        owner = CrmOwner(connection=contact.connection, crm_user_id=contact.crm_owner_id)
    else:
        owner = crm_owner_find(organization=contact.organization, phone=contact.phone)
    if owner is None or owner.connection is not None:
        return owner
    return CrmOwner(connection=crm_connection_get(organization=contact.organization), crm_user_id=owner.crm_user_id)


def crm_owner_membership(*, contact: Contact) -> Membership | None:
    """The active member who owns the contact's linked CRM record (a linked owner only: no lookup)."""
    if not contact.crm_owner_id:
        return None
    connection = contact.connection or crm_connection_get(organization=contact.organization)
    if connection is None:
        return None
    return (
        memberships_for_crm_user(connection=connection, crm_user_id=contact.crm_owner_id).select_related("user").first()
    )


def inbound_number_get(*, provider: str, number: str) -> PhoneNumber | None:
    """One of our numbers by its E.164 value: the tenant of an inbound text comes from where it was sent."""
    return (
        PhoneNumber.objects.unscoped()
        # account__organization: the webhook records the event under the account's organization (no 2nd query).
        .select_related("account__organization", "organization", "studio")
        .filter(provider=provider, number=number)
        .first()
    )


# The webhook's signature check remembers a number (with its account, organization and decrypted token) this long,
# in this process, so a burst of texts does not repeat the lookup and decryption per request. Only a token that
# verifies is trusted from memory: one that fails sends the check back to the database (a changed token or a moved
# number is seen at once), and saving or deleting a number, an account or an organization forgets everything.
INBOUND_NUMBER_CACHE_SECONDS = 30.0
_inbound_number_cache: dict[tuple[str, str], tuple[float, PhoneNumber]] = {}


def inbound_number_get_cached(*, provider: str, number: str) -> tuple[PhoneNumber | None, bool]:
    """`inbound_number_get`, remembered for a few seconds; returns (number, from_memory). For signature checks
    only: processing an event always reads the database."""
    key = (provider, number)
    hit = _inbound_number_cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1], True
    return inbound_number_remember(provider=provider, number=number), False


def inbound_number_remember(*, provider: str, number: str) -> PhoneNumber | None:
    """Read a number from the database and remember it (unknown numbers are never remembered)."""
    found = inbound_number_get(provider=provider, number=number)
    if found is None:
        _inbound_number_cache.pop((provider, number), None)
    else:
        _inbound_number_cache[(provider, number)] = (time.monotonic() + INBOUND_NUMBER_CACHE_SECONDS, found)
    return found


def inbound_number_cache_clear(**kwargs) -> None:
    _inbound_number_cache.clear()


for _model in (PhoneNumber, ProviderAccount, Organization):
    post_save.connect(inbound_number_cache_clear, sender=_model, dispatch_uid=f"inbound_number_cache_{_model.__name__}")
    post_delete.connect(
        inbound_number_cache_clear, sender=_model, dispatch_uid=f"inbound_number_cache_del_{_model.__name__}"
    )


def twilio_accounts_with_sid(*, account_sid: str) -> QuerySet[ProviderAccount]:
    """Our Twilio accounts with this SID: the only way to verify a webhook for a number we do not know."""
    return (
        ProviderAccount.objects.unscoped().select_related("organization").filter(kind="twilio", account_sid=account_sid)
    )


def messages_due_for_retry(*, now, limit: int = 500) -> list[int]:
    """Pending sends whose backoff has elapsed, and queued ones whose task never ran (the broker was down when
    they were saved), oldest first. Every tenant: this is the scheduler's view."""
    pending = (
        Message.objects.unscoped()
        .filter(status=Message.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    stuck = (
        Message.objects.unscoped()
        .filter(
            status=Message.Status.QUEUED,
            direction=Message.Direction.OUTBOUND,
            created_at__lt=now - timedelta(seconds=QUEUED_GRACE_SECONDS),
        )
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
    return list(pending) + list(stuck)


# --- The widget API's reads (widget/api/) ----------------------------------------------------------------------
def conversation_list(
    *,
    member: Membership | None,
    unread: bool = False,
    needs_attention: bool = False,
    unassigned: bool = False,
    studio_id: int | None = None,
    search: str = "",
    crm_record_id: str = "",
) -> QuerySet[Conversation]:
    """A member's conversations, newest activity first (`activity_at`: the last text, else when it began).
    `unassigned` is the managers' queue; staff never see it, so for them it is empty. `crm_record_id` finds the
    threads of the contact linked to a CRM record (the widget opened on that record)."""
    conversations = (
        Conversation.objects.visible_to(member)
        .select_related("studio", "contact")
        .annotate(activity_at=Coalesce("last_message_at", "created_at"))
    )
    if unread:
        conversations = conversations.filter(unread_count__gt=0)
    if needs_attention:
        conversations = conversations.filter(needs_attention=True)
    if unassigned:
        conversations = conversations.filter(studio__isnull=True)
    if studio_id is not None:
        conversations = conversations.filter(studio_id=studio_id)
    if crm_record_id:
        conversations = conversations.filter(contact__crm_record_id=crm_record_id)
    text = search.strip()
    if text:
        digits = "".join(ch for ch in text if ch.isdigit())
        match = Q(contact__name__icontains=text)
        if digits:
            match |= Q(contact__phone__contains=digits)
        conversations = conversations.filter(match)
    return conversations.order_by("-activity_at", "-id")


# What a page of a thread shows (widget.api.serializers.MessageOutputSerializer's fields), read as plain rows:
# building and serialising 50 model instances cost several times what the query does.
THREAD_PAGE_COLUMNS = (
    "id",
    "conversation_id",
    "studio_id",
    "direction",
    "kind",
    "body",
    "from_number",
    "to_number",
    "status",
    "error_code",
    "error_message",
    "segments",
    "encoding",
    "sent_by_id",
    "sent_by__user__full_name",
    "sent_by__user__email",
    "on_behalf_of_studio",
    "created_at",
    "delivered_at",
)


# The thread page is the widget's hottest read (each thread opened, each poll of an open thread), so it is one
# statement written out: through the ORM, building and compiling it cost ~2 ms of CPU per request against ~1 ms of
# executing it, and more on an idle machine. The rule is Conversation.objects.visible_to's (managers: their
# organization's conversations; staff: their studios'; an inactive member or user: none), written once more here
# as SQL and held to it by tests/messaging/test_thread_page_sql.py for every kind of member and conversation;
# visible_to stays the rule everywhere else. The texts are filtered by conversation alone, which PostgreSQL reads
# from the thread index (conversation, -created_at, -id) and stops after a page: they are the conversation's
# organization's and studio's, since a text is written into the conversation of its studio and moves with the
# conversation when a manager assigns it (conversation_assign). Filtering the texts' own organization and studio
# columns as well made PostgreSQL AND those single-column indexes and sort the whole thread: 5-15 ms, not 0.15.
# Other databases (SQLite, the embedded default) read the same page through the ORM, held to the same test.
_THREAD_PAGE_SQL = """
SELECT message.id, message.conversation_id, message.studio_id, message.direction, message.kind, message.body,
    message.from_number, message.to_number, message.status, message.error_code, message.error_message,
    message.segments, message.encoding, message.sent_by_id, sender.full_name, sender.email,
    message.on_behalf_of_studio, message.created_at, message.delivered_at
FROM messaging_message AS message
LEFT JOIN studios_membership AS membership ON membership.id = message.sent_by_id
LEFT JOIN core_user AS sender ON sender.id = membership.user_id
WHERE message.conversation_id = %(conversation)s
    AND EXISTS (
        SELECT 1 FROM messaging_conversation AS conversation
        WHERE conversation.id = %(conversation)s AND conversation.organization_id = %(organization)s
            AND (%(manager)s OR conversation.studio_id IN (
                SELECT studio_id FROM studios_membership_studios WHERE membership_id = %(member)s
            ))
    )
    {before}
ORDER BY message.created_at DESC, message.id DESC
LIMIT %(limit)s
"""
_BEFORE_SQL = "AND (message.created_at < %(when)s OR (message.created_at = %(when)s AND message.id < %(id)s))"
_THREAD_PAGE_FIRST = _THREAD_PAGE_SQL.format(before="")
_THREAD_PAGE_AFTER_CURSOR = _THREAD_PAGE_SQL.format(before=_BEFORE_SQL)


def conversation_thread_page(
    *, member: Membership | None, conversation_id: int, before: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` texts of a conversation the member can see, newest first, older than `before` (created_at,
    id) when given, as rows keyed by THREAD_PAGE_COLUMNS; none when they cannot see it or it has no more texts."""
    if connection.vendor != "postgresql":
        # SQLite (the embedded default) hands a raw cursor times as text; the ORM converts them.
        return _thread_page_orm(member=member, conversation_id=conversation_id, before=before, limit=limit)
    if member is None or member.pk is None or not member.is_active or not member.user.is_active:
        return []
    params: dict[str, Any] = {
        "conversation": conversation_id,
        "organization": member.organization_id,
        "manager": member.is_manager,
        "member": member.pk,
        "limit": limit,
    }
    sql = _THREAD_PAGE_FIRST
    if before is not None:
        sql = _THREAD_PAGE_AFTER_CURSOR
        params["when"], params["id"] = before
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(THREAD_PAGE_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def _thread_page_orm(
    *, member: Membership | None, conversation_id: int, before: tuple[datetime, int] | None, limit: int
) -> list[dict[str, Any]]:
    visible = Conversation.objects.visible_to(member).filter(pk=conversation_id).values("pk")
    texts = Message.objects.unscoped().filter(conversation_id=conversation_id, conversation__in=visible)
    if before is not None:
        when, pk = before
        texts = texts.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=pk))
    return list(texts.order_by("-created_at", "-id").values(*THREAD_PAGE_COLUMNS)[:limit])
