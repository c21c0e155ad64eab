"""A link's objects and their field mappings: an object's page, with its field mappings inline (rows added there
belong to the link's organization).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.admin import TenantModelAdmin, TenantTabularInline
from links.admin.links import organization_fill
from links.models import LinkField, LinkObject


class LinkFieldInline(TenantTabularInline):
    model = LinkField
    extra = 0
    fields = ["field_a", "field_b", "direction", "conflict", "clears", "values_a_to_b", "values_b_to_a"]


@admin.register(LinkObject)
class LinkObjectAdmin(TenantModelAdmin):
    list_display = ["__str__", "link", "organization", "deletes", "create_a", "create_b", "position"]
    list_filter = ["organization", "link"]
    fields = [
        "link",
        "position",
        "object_a",
        "object_b",
        "external_id_a",
        "external_id_b",
        "match_by",
        "create_a",
        "create_b",
        "deletes",
        "archive_a",
        "archive_b",
    ]
    inlines = [LinkFieldInline]
    ordering = ["link", "position", "id"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("link", "organization")

    def save_model(self, request: HttpRequest, obj: LinkObject, form: Any, change: bool) -> None:
        obj.organization_id = obj.link.organization_id  # the link was chosen among the manager's own
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        organization_fill(formset, form.instance.organization_id)
