"""The managers' admin of messaging: conversations (and the unassigned queue), messages, the opt-out ledger, the
raw inbound events, CRM write-backs and the organization's messaging settings.

Everything is scoped by core.admin (a manager sees their organization only). Messages, events and write-backs
are records: nobody edits or deletes them here. The opt-out ledger changes only through `opt_out_set`, with a
reason, and is never deleted (a compliance record).
"""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timezone import localtime

from core.admin import TenantModelAdmin, TenantTabularInline
from core.admin_site import is_operator, request_manager, request_membership
from core.exceptions import ApplicationError
from core.models import InboundEvent
from core.phone import normalize_e164
from messaging.errors import error_explain
from messaging.models import (
    Conversation,
    CrmWriteBack,
    Message,
    MessagingSettings,
    OptOut,
    OptOutEvent,
    OptOutSource,
    OptOutState,
)
from messaging.services.admin_actions import conversation_assign, conversation_attention_clear
from messaging.services.opt_out import opt_out_set
from studios.models import Organization, PhoneNumber, Studio

DEFAULT_REGION = "US"
# What a person types when they search for a phone: digits, with or without +, spaces, dashes, dots, brackets.
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
# Fewer digits than this match too much to be a phone search ("1" is in every number).
MIN_PHONE_DIGITS = 4


# --- Phone numbers as people type them ------------------------------------------------------------------------
def phone_regions(numbers: QuerySet[PhoneNumber]) -> list[str]:
    """The regions of our numbers (where a national number like "(415) 555-0100" most likely belongs), most
    common first, then the US."""
    counts: dict[str, int] = {}
    for number in numbers.values_list("number", flat=True)[:500]:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        except phonenumbers.NumberParseException:
            continue
        if region:
            counts[region] = counts.get(region, 0) + 1
    regions = sorted(counts, key=lambda region: -counts[region])
    return regions if DEFAULT_REGION in regions else [*regions, DEFAULT_REGION]


def organization_phone_regions(organization: Organization | None) -> list[str]:
    if organization is None:
        return [DEFAULT_REGION]
    return phone_regions(PhoneNumber.objects.for_organization(organization))


def request_phone_regions(request: HttpRequest) -> list[str]:
    if not hasattr(request, "_leadline_phone_regions"):
        if is_operator(request):
            request._leadline_phone_regions = phone_regions(PhoneNumber.objects.unscoped())
        else:
            request._leadline_phone_regions = phone_regions(PhoneNumber.objects.visible_to(request_manager(request)))
    return request._leadline_phone_regions


def phone_candidates(term: str, regions: list[str]) -> set[str]:
    """Every E.164 number `term` may mean: as typed with its country code, else in each of `regions`."""
    found: set[str] = set()
    for region in [None] if term.strip().startswith("+") else regions:
        try:
            found.add(normalize_e164(term, default_region=region))
        except ValidationError:
            continue
    return found


def phone_search_q(term: str, *, fields: list[str], regions: list[str]) -> Q | None:
    """Rows whose phone fields are the number `term` means, or contain its digits ("0100", "555 01");
    None when `term` does not look like a phone number."""
    term = term.strip()
    digits = re.sub(r"\D", "", term)
    if not fields or not PHONE_LIKE.match(term) or len(digits) < MIN_PHONE_DIGITS:
        return None
    candidates = phone_candidates(term, regions)
    q = Q()
    for field in fields:
        q |= Q(**{f"{field}__contains": digits})
        if candidates:
            q |= Q(**{f"{field}__in": candidates})
    return q


class PhoneSearchMixin:
    """Search by phone in any format a person types, besides the admin's ordinary `search_fields`."""

    phone_search_fields: list[str] = []

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone_q = phone_search_q(search_term, fields=self.phone_search_fields, regions=request_phone_regions(request))
        if phone_q is not None:
            results = queryset.filter(phone_q) | results  # the number, or the words (a body, a name)
        return results, may_have_duplicates


# --- Shared pieces --------------------------------------------------------------------------------------------
class StudioFilter(admin.SimpleListFilter):
    """The studios of the signed-in manager's organization (every studio for operators), and the unassigned."""

    title = "studio"
    parameter_name = "studio"
    UNASSIGNED = "none"

    def lookups(self, request: HttpRequest, model_admin: Any):
        if is_operator(request):
            studios = Studio.objects.unscoped().select_related("organization")
            choices = [(str(s.pk), f"{s.organization.name} · {s.name}") for s in studios]
        else:
            studios = Studio.objects.visible_to(request_manager(request))
            choices = [(str(s.pk), s.name) for s in studios]
        return [*choices, (self.UNASSIGNED, "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        value = self.value()
        if value == self.UNASSIGNED:
            return queryset.filter(studio__isnull=True)
        if value in {key for key, _label in self.lookup_choices}:
            return queryset.filter(studio_id=value)
        if value is not None:
            return queryset.none()  # another organization's studio, or a typo: no studio of yours, no rows
        return queryset


class ReadOnlyAdminMixin:
    """Records: viewed, never added, edited or deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def studio_or_unassigned(studio: Studio | None) -> str:
    return studio.name if studio is not None else "Unassigned"


def member_name(member) -> str:
    return (member.user.full_name or member.user.email) if member is not None else ""


def excerpt(text: str, length: int = 60) -> str:
    return Truncator(text or "").chars(length)


def message_error(message: Message) -> str:
    if not message.error_code:
        return excerpt(message.error_message, 80)
    return f"{message.error_code}: {error_explain(message.error_code, message.error_message)}"


# --- Conversations --------------------------------------------------------------------------------------------
RECENT_MESSAGES = 20


class ConversationAdminForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["studio", "needs_attention"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        studio = self.fields.get("studio")
        if studio is not None:
            # Only an active studio of the conversation's own organization (operators see every studio otherwise).
            studio.queryset = studio.queryset.filter(organization_id=self.instance.organization_id, is_active=True)
            for option in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
                setattr(studio.widget, option, False)  # choose a studio here; studios are managed on their page
            studio.help_text = (
                "Give this conversation to a studio: its messages move with it. Empty: it stays unassigned."
            )


@admin.register(Conversation)
class ConversationAdmin(PhoneSearchMixin, TenantModelAdmin):
    form = ConversationAdminForm
    list_display = ["contact", "studio_name", "organization", "attention", "unread", "last_message_at", "last_message"]
    list_display_links = ["contact"]
    list_filter = [StudioFilter, "needs_attention", "organization"]
    search_fields = ["contact__name"]
    phone_search_fields = ["contact__phone"]
    actions = ["clear_needs_attention"]
    fields = [
        "organization",
        "contact",
        "studio",
        "needs_attention",
        "attention_reason",
        "unread_count",
        "last_message_at",
        "recent_messages",
    ]

    def get_queryset(self, request: HttpRequest):
        last_body = Message.unscoped_objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .select_related("organization", "studio", "contact")
            .annotate(_last_body=Subquery(last_body.values("body")[:1]))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Conversation | None = None):
        readonly = ["organization", "contact", "attention_reason", "unread_count", "last_message_at", "recent_messages"]
        if obj is None or obj.studio_id is not None:
            readonly.append("studio")  # only the unassigned are assigned; moving a thread between studios is not
        if obj is None or not obj.needs_attention:
            readonly.append("needs_attention")  # a person clears the flag; automation sets it
        return readonly

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # conversations start with a text

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # their messages are records

    @admin.display(description="studio", ordering="studio__name")
    def studio_name(self, obj: Conversation) -> str:
        return studio_or_unassigned(obj.studio)

    @admin.display(description="last message")
    def last_message(self, obj: Conversation) -> str:
        return excerpt(obj._last_body, 80)

    @admin.display(description="unread", ordering="unread_count")
    def unread(self, obj: Conversation) -> int:
        return obj.unread_count

    @admin.display(description="needs attention", ordering="-needs_attention")
    def attention(self, obj: Conversation) -> str:
        if not obj.needs_attention:
            return "—"
        return format_html(
            '<strong>Yes</strong>: <span title="{}">{}</span>',
            obj.attention_reason,
            excerpt(obj.attention_reason, 90) or "no reason given",
        )

    @admin.display(description="messages")
    def recent_messages(self, obj: Conversation) -> str:
        if obj is None or obj.pk is None:
            return "—"
        recent = list(
            Message.objects.for_organization(obj.organization)
            .filter(conversation=obj)
            .select_related("studio", "sent_by__user")
            .order_by("-created_at", "-id")[:RECENT_MESSAGES]
        )
        if not recent:
            return "No messages."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:messaging_message_change", args=[m.pk]),
                    date_format(localtime(m.created_at), "SHORT_DATETIME_FORMAT"),
                    m.get_direction_display(),
                    excerpt(m.body, 120),
                    m.get_status_display(),
                    member_name(m.sent_by),
                )
                for m in reversed(recent)
            ),
        )
        every = reverse("admin:messaging_message_changelist") + f"?conversation__id__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>time</th><th>direction</th><th>text</th><th>status</th><th>sent by</th></tr>"
            '</thead><tbody>{}</tbody></table><p><a href="{}">Every message of this conversation</a></p>',
            rows,
            every,
        )

    def save_model(self, request: HttpRequest, obj: Conversation, form: ConversationAdminForm, change: bool) -> None:
        member = request_membership(request)
        if member is not None and member.organization_id != obj.organization_id:
            member = None  # an operator who also belongs to another organization acts as an operator
        try:
            if "studio" in form.changed_data and form.cleaned_data.get("studio") is not None:
                target = conversation_assign(conversation=obj, studio=form.cleaned_data["studio"], member=member)
                if target.pk != obj.pk:
                    messages.info(
                        request,
                        f"{obj.contact} already had a conversation with {target.studio}: the messages joined it.",
                    )
                obj.pk = target.pk
            elif "needs_attention" in form.changed_data and not form.cleaned_data.get("needs_attention"):
                conversation_attention_clear(conversation=obj, member=member)
        except ApplicationError as exc:
            messages.error(request, exc.message)

    @admin.action(description="Clear “needs attention” of the selected conversations")
    def clear_needs_attention(self, request: HttpRequest, queryset: QuerySet) -> None:
        member = request_membership(request)
        cleared = 0
        for conversation in queryset.filter(needs_attention=True):
            acting = member if member is not None and member.organization_id == conversation.organization_id else None
            conversation_attention_clear(conversation=conversation, member=acting)
            cleared += 1
        self.message_user(request, f"{cleared} conversation(s) no longer need attention.")


# --- Messages -------------------------------------------------------------------------------------------------
@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, TenantModelAdmin):
    list_display = [
        "created_at",
        "direction",
        "studio_name",
        "organization",
        "from_number",
        "to_number",
        "body_excerpt",
        "status",
        "error",
        "provider",
        "failed_over_from",
        "sender",
        "on_behalf_of_studio",
    ]
    list_filter = ["direction", "status", "provider", StudioFilter, "organization"]
    search_fields = ["body"]
    phone_search_fields = ["from_number", "to_number"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["organization", "studio", "conversation", "contact", "direction", "kind", "body"]}),
        ("Route", {"fields": ["from_number", "to_number", "phone_number", "provider", "failed_over_from"]}),
        (
            "Delivery",
            {
                "fields": [
                    "status",
                    "error",
                    "error_message",
                    "provider_message_id",
                    "zoho_voice_log_id",
                    "segments",
                    "encoding",
                    "attempts",
                    "next_attempt_at",
                    "occurred_at",
                    "delivered_at",
                ]
            },
        ),
        ("Sender", {"fields": ["sent_by", "on_behalf_of_studio", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "studio", "sent_by__user")

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    @admin.display(description="studio", ordering="studio__name")
    def studio_name(self, obj: Message) -> str:
        return studio_or_unassigned(obj.studio)

    @admin.display(description="text")
    def body_excerpt(self, obj: Message) -> str:
        return excerpt(obj.body)

    @admin.display(description="error")
    def error(self, obj: Message) -> str:
        return message_error(obj)

    @admin.display(description="sent by", ordering="sent_by__user__full_name")
    def sender(self, obj: Message) -> str:
        return member_name(obj.sent_by)


# --- Opt-out ledger -------------------------------------------------------------------------------------------
class OptOutEventInline(ReadOnlyAdminMixin, TenantTabularInline):
    model = OptOutEvent
    fk_name = "opt_out"
    extra = 0
    can_delete = False
    fields = ["created_at", "state", "source", "reason", "changed_by_name", "message"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name = "change"
    verbose_name_plural = "history"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("changed_by__user", "message")

    @admin.display(description="by")
    def changed_by_name(self, obj: OptOutEvent) -> str:
        return member_name(obj.changed_by)


class OptOutAdminForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=300,
        required=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required: why the state is set by hand (e.g. “asked on the phone to stop texts”). Kept in "
        "the ledger's history.",
    )

    class Meta:
        model = OptOut
        fields = ["organization", "phone", "state", "reason"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.initial["reason"] = ""  # every change gives its own reason, never the previous one's
        if "phone" in self.fields:
            self.fields["phone"].help_text = "As you would type it, e.g. (415) 555-0100 or +44 20 7946 0018."

    def _organization(self) -> Organization | None:
        if self.instance.organization_id:
            return self.instance.organization
        return self.cleaned_data.get("organization")

    def clean_phone(self) -> str:
        """What the manager typed, in E.164: with its country code as typed, else read as a national number of
        the organization's own numbers' regions (then the US), in that order."""
        raw = self.cleaned_data.get("phone", "").strip()
        regions = [None] if raw.startswith("+") else organization_phone_regions(self._organization())
        first_error = None
        for region in regions:
            try:
                return normalize_e164(raw, default_region=region)
            except ValidationError as exc:
                first_error = first_error or exc
        raise first_error

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization, phone = self._organization(), cleaned.get("phone")
        if self.instance.pk is None and organization is not None and phone:
            existing = OptOut.objects.for_organization(organization).filter(phone=phone).first()
            if existing is not None:
                self.add_error(
                    "phone",
                    ValidationError(
                        "%(phone)s is already in the ledger (%(state)s): change it there.",
                        code="exists",
                        params={"phone": phone, "state": existing.get_state_display()},
                    ),
                )
        return cleaned

    def validate_unique(self) -> None:
        if "phone" not in self.errors:  # already explained in clean(), in words a manager understands
            super().validate_unique()


@admin.register(OptOut)
class OptOutAdmin(PhoneSearchMixin, TenantModelAdmin):
    form = OptOutAdminForm
    list_display = ["phone", "organization", "state", "source", "changed_at", "changed_by_name", "reason"]
    list_filter = ["state", "source", "organization"]
    search_fields = ["reason"]
    phone_search_fields = ["phone"]
    inlines = [OptOutEventInline]
    actions = None  # no bulk deletion of a compliance record, and no other bulk change

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "changed_by__user")

    def get_inlines(self, request: HttpRequest, obj: OptOut | None):
        return self.inlines if obj is not None else []  # a new row has no history yet

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"state": OptOutState.OPTED_OUT, **super().get_changeform_initial_data(request)}

    def get_fields(self, request: HttpRequest, obj: OptOut | None = None):
        if obj is None:
            return ["organization", "phone", "state", "reason"]
        return ["organization", "phone", "state", "reason", "source", "changed_at", "changed_by_name"]

    def get_readonly_fields(self, request: HttpRequest, obj: OptOut | None = None):
        if obj is None:
            return []
        return ["organization", "phone", "source", "changed_at", "changed_by_name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger is a compliance record: a phone opts back in, its row stays

    @admin.display(description="by", ordering="changed_by__user__full_name")
    def changed_by_name(self, obj: OptOut) -> str:
        return member_name(obj.changed_by)

    def save_model(self, request: HttpRequest, obj: OptOut, form: OptOutAdminForm, change: bool) -> None:
        """Never `obj.save()`: the ledger changes through its service, which records the event and queues the CRM."""
        organization = obj.organization
        member = request_membership(request)
        if member is not None and member.organization_id != organization.pk:
            member = None  # an operator who also belongs to another organization is not one of this one's members
        saved, _changed = opt_out_set(
            organization=organization,
            phone=obj.phone,
            state=form.cleaned_data["state"],
            source=OptOutSource.MANUAL,
            reason=form.cleaned_data["reason"],
            changed_by=member,
        )
        obj.pk = saved.pk
        obj._state.adding = False
        for field in ("state", "source", "reason", "changed_at", "changed_by_id", "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))


# --- Inbound events (core.InboundEvent) -----------------------------------------------------------------------
@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    """Raw webhooks as received. Operators see every one (also those no organization could be found for);
    managers see their organization's, e.g. the flagged ones that need a person."""

    list_display = ["received_at", "source", "organization", "status", "attempts", "error_excerpt", "processed_at"]
    list_filter = ["status", "source", "organization"]
    search_fields = ["idempotency_key"]
    date_hierarchy = "received_at"
    fields = [
        "source",
        "idempotency_key",
        "organization",
        "status",
        "error",
        "attempts",
        "received_at",
        "processed_at",
        "payload_pretty",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization")

    @admin.display(description="error")
    def error_excerpt(self, obj: InboundEvent) -> str:
        return excerpt(obj.error, 80)

    @admin.display(description="payload")
    def payload_pretty(self, obj: InboundEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False))


# --- CRM write-backs ------------------------------------------------------------------------------------------
@admin.register(CrmWriteBack)
class CrmWriteBackAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, TenantModelAdmin):
    list_display = ["phone", "organization", "field", "value", "status", "attempts", "last_error", "created_at"]
    list_filter = ["status", "organization"]
    search_fields = ["field"]
    phone_search_fields = ["phone"]
    fields = ["organization", "phone", "contact", "field", "value", "status", "attempts", "last_error", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "contact")


# --- Messaging settings ---------------------------------------------------------------------------------------
@admin.register(MessagingSettings)
class MessagingSettingsAdmin(TenantModelAdmin):
    """One row per organization: managers add theirs if it is missing, and edit it."""

    list_display = ["__str__", "organization", "crm_opt_out_field", "updated_at"]
    list_filter = ["organization"]
    fields = ["organization", "crm_opt_out_field"]
    actions = None

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if is_operator(request):
            return True
        manager = request_manager(request)
        if manager is None:
            return False
        return not MessagingSettings.objects.for_organization(manager.organization).exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request)  # without the row the default field applies; operators may reset it
