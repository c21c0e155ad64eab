"""Organizations and their studios (with each studio's own provider accounts and its templates' preview)."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core import merge_fields
from core.admin import TenantModelAdmin, TenantTabularInline
from core.admin_site import is_operator
from studios.models import (
    TEMPLATE_FIELDS,
    TEMPLATE_SAMPLE,
    TEMPLATE_SAMPLE_NO_NAME,
    Organization,
    Studio,
    StudioAccount,
)


# --- Organization ---------------------------------------------------------------------------------------------
@admin.register(Organization)
class OrganizationAdmin(TenantModelAdmin):
    tenant_field = None
    list_display = ["name", "slug", "is_active", "studio_count", "member_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .annotate(_studios=Count("studios", distinct=True), _members=Count("memberships", distinct=True))
        )

    @admin.display(description="studios", ordering="_studios")
    def studio_count(self, obj: Organization) -> int:
        return obj._studios

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj: Organization) -> int:
        return obj._members

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        # Managers may rename their organization; its slug, status and existence are the operators' business.
        return [] if is_operator(request) else ["slug", "is_active"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request)


# --- Studio ---------------------------------------------------------------------------------------------------
class StudioAccountFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kinds: dict[str, str] = {}
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            account = form.cleaned_data.get("account")
            if account is None:
                continue
            if account.kind in kinds:
                raise ValidationError(
                    f"A studio uses one {account.get_kind_display()} account; {kinds[account.kind]} and "
                    f"{account.name} are both chosen."
                )
            kinds[account.kind] = account.name
            studio = self.instance
            if studio.organization_id and account.organization_id != studio.organization_id:
                raise ValidationError(f"{account.name} belongs to another organization.")


class StudioAccountInline(TenantTabularInline):
    model = StudioAccount
    formset = StudioAccountFormSet
    extra = 0
    fields = ["account", "kind"]
    readonly_fields = ["kind"]
    verbose_name = "own provider account"
    verbose_name_plural = "own provider accounts (instead of the organization's default of that kind)"


@admin.register(Studio)
class StudioAdmin(TenantModelAdmin):
    list_display = ["name", "slug", "organization", "time_zone", "number_count", "is_active"]
    list_filter = ["is_active", "time_zone", "organization"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fields = [
        "organization",
        "name",
        "slug",
        "time_zone",
        "welcome_message",
        "help_message",
        "template_preview",
        "is_active",
    ]
    readonly_fields = ["template_preview"]
    inlines = [StudioAccountInline]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        kwargs["help_texts"] = {
            "welcome_message": f"Sent to a new lead. {TEMPLATE_HELP}",
            "help_message": f"The answer to HELP or INFO. {TEMPLATE_HELP}",
            **kwargs.get("help_texts", {}),
        }
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="Preview (as saved)")
    def template_preview(self, obj: Studio | None) -> str:
        """Each saved template for a sample lead, and for one with only a phone number: what would not be sent."""
        if obj is None or obj.pk is None:
            return "Shown once the studio is saved."
        rows = []
        for label, template in _studio_templates(obj):
            full = _preview(template, {**TEMPLATE_SAMPLE, "studio_name": obj.name})
            bare = _preview(template, {**TEMPLATE_SAMPLE_NO_NAME, "studio_name": obj.name})
            rows.append((label, full, bare))
        return format_html(
            "<div>Sample lead Dana Scully, owner Ana Lima; then a lead with no name on file.</div>{}",
            format_html_join("", "<p><strong>{}</strong><br>{}<br>No name: {}</p>", rows),
        )

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("organization")
            .annotate(_numbers=Count("phone_numbers", distinct=True))
        )

    @admin.display(description="own numbers", ordering="_numbers")
    def number_count(self, obj: Studio) -> int:
        return obj._numbers


TEMPLATE_HELP = (
    "Merge fields: "
    + ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
    + ". A field that may be blank needs a fallback, e.g. {first_name|there}; without one, a blank field stops "
    "the text and the lead is flagged for a person. Write {{ and }} for literal braces."
)


def _studio_templates(studio: Studio) -> list[tuple[str, str]]:
    templates = [("Welcome", studio.welcome_message), ("Help", studio.help_message)]
    try:
        templates.append(("Follow-up", studio.automation.follow_up_message))
    except ObjectDoesNotExist:  # not saved yet: the default applies
        default = Studio.automation.related.related_model._meta.get_field("follow_up_message").default
        templates.append(("Follow-up", default))
    return templates


def _preview(template: str, sample: dict[str, str]) -> str:
    if not template.strip():
        return "(empty: not sent)"
    try:
        rendered = merge_fields.render(template, sample, allowed=TEMPLATE_FIELDS)
    except merge_fields.TemplateError as exc:
        return f"not valid, nothing is sent: {exc}"
    return f"not sent: {rendered.reason}" if rendered.missing else rendered.text
