"""Two-way SMS: contacts (a phone within an organization), conversations (a studio and a contact), messages,
the opt-out ledger, blocked senders, send requests; and, from models_crm.py, what texts tell the CRM (opt-out
write-backs, timeline entries, the organization's messaging settings).

Every model is tenant-owned (core.tenancy): its `objects` must be scoped before it runs. Idempotency lives in
database constraints: a provider's message id is unique per provider, a provider's log id is unique, one opt-out
row per (organization, phone), one conversation per (studio, contact).

SMS providers are found in messaging/providers/ (registry.py): the values and labels a provider column stores come
from there, and a provider package's own models (its `models.py`) are imported at the end of this module, so they
are models of this app too.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from core.tenancy import TenantManager, TenantModel, TenantQuerySet
from messaging.models_crm import CRM_TIMELINE_SUBJECT_FIELDS, CrmTimelineEntry, CrmWriteBack, MessagingSettings
from messaging.phones import SenderPhoneField
from messaging.providers import registry as sms_providers

# The SMS providers' names (stored values) and labels, e.g. ("twilio", "Twilio").
PROVIDER_CHOICES = sms_providers.choices()


# --- Contacts -------------------------------------------------------------------------------------------------
class ContactQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        # Staff see the people their studios talk to.
        return queryset.filter(conversations__studio__in=member.studios.values("pk")).distinct()


class Contact(TenantModel, TimeStampedModel):
    """A phone number we text within one organization, linked to its CRM record when known."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="contacts")
    phone = SenderPhoneField()
    name = models.CharField(max_length=200, blank=True)
    connection = models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CRM connection of the linked record; empty while the contact is linked to none.",
    )
    crm_object = models.CharField(
        "CRM object", max_length=64, blank=True, help_text="lead or contact (canonical names), when linked."
    )
    crm_record_id = models.CharField("CRM record id", max_length=64, blank=True)
    crm_owner_id = models.CharField(
        "CRM owner's user id", max_length=64, blank=True, help_text="Routes replies on shared numbers."
    )

    objects = TenantManager.from_queryset(ContactQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["phone"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone"], name="contact_unique_phone_per_organization"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})" if self.name else self.phone


# --- Conversations --------------------------------------------------------------------------------------------
class ConversationQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        # The unassigned queue (studio null) is for managers only.
        return queryset.filter(studio__in=member.studios.values("pk"))


class Conversation(TenantModel, TimeStampedModel):
    """The thread between one studio and one contact. Without a studio it is in the unassigned queue that
    managers work: an inbound text automation could not route."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="conversations")
    studio = models.ForeignKey(
        "studios.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="conversations"
    )
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    last_message_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    needs_attention = models.BooleanField(
        default=False, help_text="Something automation could not decide; a person should look."
    )
    attention_reason = models.CharField(max_length=300, blank=True)

    objects = TenantManager.from_queryset(ConversationQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-last_message_at"]
        constraints = [
            models.UniqueConstraint(fields=["studio", "contact"], name="conversation_unique_studio_contact"),
            models.UniqueConstraint(
                fields=["organization", "contact"],
                condition=Q(studio__isnull=True),
                name="conversation_unique_unassigned_contact",
            ),
        ]
        indexes = [models.Index(fields=["organization", "studio", "-last_message_at"], name="conversation_recent")]

    def __str__(self) -> str:
        return f"{self.contact} · {self.studio or 'unassigned'}"


# --- Messages -------------------------------------------------------------------------------------------------
class MessageQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(studio__in=member.studios.values("pk"))


class Message(TenantModel, TimeStampedModel):
    """One text, in or out. Saved before anything can fail (a send is `queued` before a provider is called; an
    inbound text is saved before it is routed), then moved forward by sends, callbacks and polls."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # saved, waiting for the send task
        SENDING = "sending", "Sending"  # a task holds it and is calling a provider
        PENDING = "pending", "Pending retry"  # every provider was down; retried with backoff
        ACCEPTED = "accepted", "Accepted by provider"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        READ = "read", "Read"
        RECEIVED = "received", "Received"

    class Kind(models.TextChoices):
        MANUAL = "manual", "Sent by a person"
        AUTOMATED = "automated", "Automation (welcome, follow-up)"
        KEYWORD_REPLY = "keyword_reply", "Answer to STOP/START/HELP"  # goes out even to an opted-out lead

    class Encoding(models.TextChoices):
        GSM7 = "GSM-7", "GSM-7"
        UCS2 = "UCS-2", "UCS-2"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="messages")
    studio = models.ForeignKey(
        "studios.Studio",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        help_text="The studio in whose name it was sent or to which it was routed (empty: unassigned).",
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    body = models.TextField(blank=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    phone_number = models.ForeignKey(
        "studios.PhoneNumber",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        help_text="Our number it went out on or came in to.",
    )
    provider = models.CharField(max_length=16, choices=PROVIDER_CHOICES, blank=True)
    provider_message_id = models.CharField(
        max_length=64, null=True, blank=True, help_text="The provider's id of the message (e.g. Twilio's MessageSid)."
    )
    provider_log_id = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="The provider's log id when it differs from its message id (dedup of polled logs).",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    encoding = models.CharField(max_length=8, choices=Encoding.choices, default=Encoding.GSM7)
    sent_by = models.ForeignKey(
        "studios.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="sent_messages"
    )
    on_behalf_of_studio = models.BooleanField(
        default=False, help_text="A manager sent it in the name of a studio they do not work in."
    )
    failed_over_from = models.CharField(
        max_length=16, choices=PROVIDER_CHOICES, blank=True, help_text="The preferred provider that was down."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the provider took it (outbound) or the lead sent it (inbound); the dedup window of polled logs uses it.
    occurred_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)

    objects = TenantManager.from_queryset(MessageQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="message_unique_provider_message_id",
            ),
            models.UniqueConstraint(
                fields=["provider_log_id"],
                condition=Q(provider_log_id__isnull=False),
                name="message_unique_provider_log_id",
            ),
            models.CheckConstraint(condition=Q(direction__in=["inbound", "outbound"]), name="message_direction_valid"),
        ]
        indexes = [
            # The thread view: a conversation's latest messages.
            models.Index(fields=["conversation", "-created_at", "-id"], name="message_thread"),
            # Sends waiting for a provider to come back.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="message_pending_retry"),
            # Dedup of polled logs: only rows of log-polling providers still waiting for a log id, looked up by
            # numbers and time (an index range scan per log, never a scan of every pair).
            models.Index(
                fields=["from_number", "to_number", "direction", "occurred_at"],
                condition=Q(provider__in=sms_providers.log_polling_providers(), provider_log_id__isnull=True),
                name="message_awaiting_provider_log",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.from_number} → {self.to_number} ({self.status})"


# --- Opt-out ledger -------------------------------------------------------------------------------------------
class OptOutState(models.TextChoices):
    OPTED_OUT = "opted_out", "Opted out"
    OPTED_IN = "opted_in", "Opted in"


class OptOutSource(models.TextChoices):
    KEYWORD = "keyword", "Keyword reply"
    PROVIDER = "provider", "Provider (Twilio OptOutType or error 21610)"
    CRM = "crm", "CRM field"
    MANUAL = "manual", "Manual (a manager)"


class OptOutQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.none()  # the ledger is managers' business; staff see a contact's state through the API


class OptOut(TenantModel, TimeStampedModel):
    """Whether a phone may be texted by an organization: one row per (organization, phone), covering every
    number and provider of the organization. Its history is in OptOutEvent."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="opt_outs")
    phone = SenderPhoneField()
    state = models.CharField(max_length=16, choices=OptOutState.choices)
    source = models.CharField(max_length=16, choices=OptOutSource.choices)
    reason = models.CharField(max_length=300, blank=True)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        "studios.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = TenantManager.from_queryset(OptOutQuerySet)()

    class Meta(TenantModel.Meta):
        verbose_name = "opt-out"
        ordering = ["-changed_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "phone"], name="opt_out_unique_phone_per_organization"),
        ]

    def __str__(self) -> str:
        return f"{self.phone}: {self.get_state_display()}"

    @property
    def is_opted_out(self) -> bool:
        return self.state == OptOutState.OPTED_OUT


class OptOutEvent(TenantModel):
    """An append-only line of the ledger: who or what changed a phone's state, when and why."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    opt_out = models.ForeignKey(OptOut, on_delete=models.CASCADE, related_name="events")
    state = models.CharField(max_length=16, choices=OptOutState.choices)
    source = models.CharField(max_length=16, choices=OptOutSource.choices)
    reason = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    changed_by = models.ForeignKey(
        "studios.Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)

    objects = TenantManager.from_queryset(OptOutQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_state_display()} by {self.get_source_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class SenderBlockQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        # Staff read a contact's blocks through the API (for a contact they can see); the table is managers'.
        return queryset.none()


class SenderBlock(TenantModel, TimeStampedModel):
    """A provider's own block of one of our numbers for one recipient, kept apart from the person's consent.

    Twilio blocks per sender: after a STOP to number A it refuses every send from A to that person (error 21610)
    until they text START to A, whatever they texted our other numbers. So a lead who texted STOP to A and START
    to B is opted in (the ledger, OptOut) and still cannot be texted from A (this row). START to A deletes it."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    sender = models.CharField(max_length=32, help_text="Our number the person blocked.")
    phone = models.CharField(max_length=32, help_text="The person, as they texted us.")
    provider = models.CharField(max_length=16, choices=PROVIDER_CHOICES)
    reason = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The STOP or the refusal.",
    )

    objects = TenantManager.from_queryset(SenderBlockQuerySet)()

    class Meta(TenantModel.Meta):
        verbose_name = "sender block"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "sender", "phone"], name="sender_block_unique_sender_phone_per_organization"
            ),
        ]
        indexes = [models.Index(fields=["organization", "phone"], name="sender_block_phone")]

    def __str__(self) -> str:
        return f"{self.phone} blocked {self.sender}"


class SendRequest(TenantModel):
    """One `Idempotency-Key` a member sent with a text, and the answer the first request got: a retry with the
    same key replays it and sends nothing. The unique constraint is what stops two concurrent duplicates (the
    second INSERT waits for the first transaction, then finds the key taken); only answered sends are kept."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey("studios.Membership", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "send request"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "member", "key"], name="send_request_unique_key_per_member"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status or 'in progress'})"


# Last, once this module's models exist: the provider packages' own models (e.g. a poll's cursor).
sms_providers.models_import()

__all__ = [
    "CRM_TIMELINE_SUBJECT_FIELDS",
    "PROVIDER_CHOICES",
    "Contact",
    "Conversation",
    "CrmTimelineEntry",
    "CrmWriteBack",
    "Message",
    "MessagingSettings",
    "OptOut",
    "OptOutEvent",
    "OptOutSource",
    "OptOutState",
    "SendRequest",
    "SenderBlock",
]
