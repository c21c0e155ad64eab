"""Messaging admin: records."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from core.admin_site import is_operator, request_manager
from core.models import InboundEvent
from messaging.admin.common import PhoneSearchMixin, excerpt
from messaging.models import (
    CrmTimelineEntry,
    CrmWriteBack,
    MessagingSettings,
)
from messaging.services.crm_timeline import crm_timeline_retry


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


# --- Texts on the CRM timeline --------------------------------------------------------------------------------
@admin.register(CrmTimelineEntry)
class CrmTimelineEntryAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    """Each text's way onto its CRM record's timeline: pending, logged (the CRM's activity id), failed or skipped,
    with the CRM's words when it refused, and when a waiting row is tried again."""

    list_display = [
        "created_at",
        "message",
        "organization",
        "status",
        "crm_object",
        "crm_record_id",
        "attempts",
        "next_attempt_at",
        "error_excerpt",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["crm_record_id", "crm_activity_id"]
    date_hierarchy = "created_at"
    fields = [
        "organization",
        "message",
        "status",
        "connection",
        "crm_object",
        "crm_record_id",
        "crm_activity_id",
        "attempts",
        "next_attempt_at",
        "last_error",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    actions = ["try_again"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "message", "connection")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every field is read-only; "Try again now" needs change permission.
        return self._may_manage(request, obj)

    @admin.display(description="error")
    def error_excerpt(self, obj: CrmTimelineEntry) -> str:
        return excerpt(obj.last_error, 80)

    @admin.action(description="Try again now")
    def try_again(self, request: HttpRequest, queryset) -> None:
        count = crm_timeline_retry(entries=queryset)
        self.message_user(request, f"{count} will be logged on the next flush (within a minute).", messages.SUCCESS)


# --- Messaging settings ---------------------------------------------------------------------------------------
@admin.register(MessagingSettings)
class MessagingSettingsAdmin(TenantModelAdmin):
    """One row per organization: managers add theirs if it is missing, and edit it."""

    list_display = ["__str__", "organization", "crm_opt_out_field", "crm_timeline_enabled", "updated_at"]
    list_filter = ["organization"]
    fieldsets = [
        (None, {"fields": ["organization", "crm_opt_out_field"]}),
        (
            "Texts on the CRM timeline",
            {
                "fields": [
                    "crm_timeline_enabled",
                    "crm_timeline_subject_sent",
                    "crm_timeline_subject_received",
                    "crm_timeline_activity_type",
                ]
            },
        ),
    ]
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
