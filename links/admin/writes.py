"""The failed-writes queue and the history of done writes (retry, skip; the CRM's answer and the fields old → new,
each record linked to its CRM), and the read-only list of conflicts.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest
from django.utils.decorators import method_decorator

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from links.admin.common import RecordLinksMixin, WriteStateFilter, changes_table, record_links
from links.models import LinkConflict, LinkWrite

LIST_ERROR_CHARS = 160


@admin.register(LinkWrite)
class LinkWriteAdmin(RecordLinksMixin, ReadOnlyAdminMixin, TenantModelAdmin):
    """Failed writes first (the state filter starts there); "done" is the history of what the link wrote."""

    list_display = [
        "created_at",
        "link",
        "organization",
        "operation",
        "side",
        "state",
        "attempts",
        "crm_said",
        "changes",
        "records",
        "origin",
        "resolved_by",
    ]
    list_filter = [WriteStateFilter, "link", "operation", "side", "origin", "organization"]
    search_fields = ["pair__id_a", "pair__id_b", "error_code", "error_message"]
    fields = [
        "link",
        "link_object",
        "pair",
        "records",
        "side",
        "operation",
        "origin",
        "state",
        "changes",
        "hashes",
        "attempts",
        "next_attempt_at",
        "error_code",
        "error_message",
        "error_fields",
        "transient",
        "source_modified_at",
        "seen_at",
        "created_at",
        "sent_at",
        "done_at",
        "resolved_by",
        "resolved_at",
    ]
    readonly_fields = fields
    actions = ["retry", "skip"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "link__connection_a", "link__connection_b", "link__organization", "link_object", "pair", "resolved_by"
            )
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only fields, but retry and skip need change permission.
        return self._may_manage(request, obj)

    @admin.display(description="the CRM said")
    def crm_said(self, obj: LinkWrite) -> str:
        if not (obj.error_code or obj.error_message):
            return ""
        fields = f" ({', '.join(obj.error_fields)})" if obj.error_fields else ""
        text = f"{obj.error_code}: {obj.error_message}{fields}"
        return text if len(text) <= LIST_ERROR_CHARS else f"{text[: LIST_ERROR_CHARS - 1]}…"

    @admin.display(description="fields (old → new)")
    def changes(self, obj: LinkWrite):
        return changes_table(obj)

    @admin.display(description="records")
    def records(self, obj: LinkWrite):
        return record_links(obj).pair(obj.pair, obj.link, obj.link_object)

    @admin.action(description="Retry (with the values as the CRMs hold them now)")
    def retry(self, request: HttpRequest, queryset) -> None:
        from links.writer import write_retry

        self._resolve(request, queryset, write_retry, "will be retried")

    @admin.action(description="Skip (leave the record as it is)")
    def skip(self, request: HttpRequest, queryset) -> None:
        from links.writer import write_skip

        self._resolve(request, queryset, write_skip, "skipped")

    def _resolve(self, request: HttpRequest, queryset, call, done: str) -> None:
        count = 0
        for write in list(queryset.filter(state=LinkWrite.State.FAILED)):
            call(write, by=request.user)
            count += 1
        self.message_user(request, f"{count} failed write{'s' if count != 1 else ''} {done}.", messages.SUCCESS)

    @method_decorator(transaction.non_atomic_requests)  # each write is retried or skipped in its own transaction
    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, extra_context)


@admin.register(LinkConflict)
class LinkConflictAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = ["created_at", "link", "organization", "link_field", "value_a", "value_b", "winner", "rule", "pair"]
    list_filter = ["link", "winner", "rule", "organization"]
    fields = [
        "link",
        "link_object",
        "pair",
        "link_field",
        "value_a",
        "changed_a_at",
        "value_b",
        "changed_b_at",
        "winner",
        "rule",
        "created_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("link", "organization", "link_field", "pair")
