"""Messaging admin: messages."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from messaging.admin.common import (
    PhoneSearchMixin,
    StudioFilter,
    excerpt,
    member_name,
    message_error,
    studio_or_unassigned,
)
from messaging.models import (
    Message,
)


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
                    "provider_log_id",
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
