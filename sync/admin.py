"""The managers' admin of the CRM mirror: each object's schedule (edit the interval, turn it off) and the runs,
read-only. Scoped like every admin page (core.admin): a manager sees their organization only. Both lists link to
the dashboard (/ops/sync/) for those who may open it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from core.admin_site import is_operator, request_manager
from sync.models import SyncRun, SyncSchedule


def may_see_sync_dashboard(request: HttpRequest) -> bool:
    """The rule of sync/dashboard.py: operators, and managers (their own organization's objects)."""
    return is_operator(request) or request_manager(request) is not None


class DashboardLinkMixin:
    """Puts a "Sync dashboard" link among the changelist's object tools (admin/sync/change_list_dashboard.html)."""

    change_list_template = "admin/sync/change_list_dashboard.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        link = reverse("sync:dashboard") if may_see_sync_dashboard(request) else ""
        return super().changelist_view(request, {**(extra_context or {}), "sync_dashboard_url": link})


@admin.register(SyncSchedule)
class SyncScheduleAdmin(DashboardLinkMixin, TenantModelAdmin):
    list_display = [
        "organization",
        "connection",
        "object",
        "interval_minutes",
        "is_enabled",
        "alert_state",
        "alert_sent_at",
    ]
    list_filter = ["organization", "is_enabled", "alert_state"]
    fields = ["organization", "connection", "object", "interval_minutes", "is_enabled", "alert_state", "alert_sent_at"]
    readonly_fields = ["alert_state", "alert_sent_at"]
    ordering = ["organization", "connection", "object"]


@admin.register(SyncRun)
class SyncRunAdmin(DashboardLinkMixin, ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = [
        "started_at",
        "organization",
        "object",
        "status",
        "inserted",
        "updated",
        "deleted",
        "quarantined",
        "credits_used",
        "finished_at",
    ]
    list_filter = ["organization", "object", "status"]
    fields = [
        "organization",
        "connection",
        "object",
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
