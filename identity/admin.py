"""Widget sessions in the admin: managers see their organization's and can end any of them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from identity.models import WidgetToken
from identity.tokens import widget_tokens_revoke


@admin.register(WidgetToken)
class WidgetTokenAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = ["membership", "organization", "created_at", "expires_at", "state"]
    list_filter = ["organization"]
    search_fields = ["membership__user__email"]
    list_select_related = ["membership__user", "organization"]
    actions = ["revoke"]
    fields = ["membership", "organization", "created_at", "expires_at", "revoked_at"]
    readonly_fields = fields

    @admin.display(description="state")
    def state(self, token: WidgetToken) -> str:
        if token.revoked_at:
            return "signed out"
        return "active" if token.expires_at > timezone.now() else "expired"

    @admin.action(description="Sign out the selected sessions")
    def revoke(self, request: HttpRequest, queryset: QuerySet[WidgetToken]) -> None:
        count = widget_tokens_revoke(tokens=queryset)
        self.message_user(request, f"{count} session(s) signed out.", messages.SUCCESS)
