"""The managers' admin of the CRM mirror: each module's schedule (edit the interval, turn it off) and the runs,
read-only. Scoped like every admin page (core.admin): a manager sees their organization only."""

from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from sync.models import SyncRun, SyncSchedule


@admin.register(SyncSchedule)
class SyncScheduleAdmin(TenantModelAdmin):
    list_display = ["organization", "module", "interval_minutes", "is_enabled", "alert_state", "alert_sent_at"]
    list_filter = ["organization", "is_enabled", "alert_state"]
    fields = ["organization", "module", "interval_minutes", "is_enabled", "alert_state", "alert_sent_at"]
    readonly_fields = ["alert_state", "alert_sent_at"]
    ordering = ["organization", "module"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = [
        "started_at",
        "organization",
        "module",
        "status",
        "inserted",
        "updated",
        "deleted",
        "quarantined",
        "credits_used",
        "finished_at",
    ]
    list_filter = ["organization", "module", "status"]
    fields = [
        "organization",
        "module",
        "status",
        "started_at",
        "finished_at",
        "inserted",
        "updated",
        "deleted",
        "quarantined",
        "watermark_before",
        "watermark_after",
        "credits_used",
        "resumed",
        "error",
    ]
    readonly_fields = fields
    ordering = ["-started_at"]
