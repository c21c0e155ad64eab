"""Messaging admin: conversations."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from core.admin import TenantModelAdmin
from core.admin_site import request_membership
from core.exceptions import ApplicationError
from messaging.admin.common import PhoneSearchMixin, StudioFilter, excerpt, member_name, studio_or_unassigned
from messaging.models import (
    Conversation,
    Message,
)
from messaging.services.admin_actions import conversation_assign, conversation_attention_clear

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
