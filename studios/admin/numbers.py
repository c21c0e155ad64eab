"""Phone numbers: owned by a studio or shared, refused without naming another organization's."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.admin import TenantModelAdmin
from core.admin_site import is_operator
from core.phone import normalize_e164
from studios import services
from studios.models import (
    PhoneNumber,
)


# --- Phone numbers --------------------------------------------------------------------------------------------
class PhoneNumberAdminForm(forms.ModelForm):
    # Longer than the stored E.164 (16): people type "+1 (415) 555-0100"; clean_number stores it in E.164.
    number = forms.CharField(max_length=40, help_text=PhoneNumber._meta.get_field("number").help_text)
    precise_refusals = False  # operators are told why a number is refused (PhoneNumberAdmin.get_form)

    class Meta:
        model = PhoneNumber
        fields = ["organization", "number", "provider", "account", "studio", "shared_with", "label", "is_active"]

    def clean_number(self) -> str:
        return normalize_e164(self.cleaned_data["number"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("studio") and cleaned.get("shared_with"):
            self.add_error("shared_with", "Only a shared number (no owning studio) lists the studios it serves.")
        organization = cleaned.get("organization") or (self.instance.organization if self.instance.pk else None)
        foreign = [
            s.name for s in cleaned.get("shared_with") or [] if organization and s.organization_id != organization.pk
        ]
        if foreign:
            self.add_error("shared_with", f"Not studios of {organization.name}: {', '.join(foreign)}.")
        if cleaned.get("number") and cleaned.get("provider"):
            try:
                services.phone_number_check(
                    organization=organization,
                    number=cleaned["number"],
                    provider=cleaned["provider"],
                    phone_number=self.instance if self.instance.pk else None,
                    precise=self.precise_refusals,
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned

    def validate_unique(self) -> None:
        # Django's own "Phone number with this Provider and Number already exists." would tell a manager that
        # another organization has the number; clean() has answered for the number already.
        if "number" not in self.errors:
            super().validate_unique()


@admin.register(PhoneNumber)
class PhoneNumberAdmin(TenantModelAdmin):
    form = PhoneNumberAdminForm
    list_display = ["number", "provider", "organization", "owner", "account", "label", "is_active"]
    list_filter = ["provider", "is_active", ("studio", RelatedOnlyFieldListFilter), "organization"]
    search_fields = ["number", "label"]
    filter_horizontal = ["shared_with"]
    fields = ["organization", "number", "provider", "account", "studio", "shared_with", "label", "is_active"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "studio", "account")

    def get_form(self, request: HttpRequest, obj: PhoneNumber | None = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        form.precise_refusals = is_operator(request)  # a class made for this request by modelform_factory
        return form

    @admin.display(description="studio", ordering="studio__name")
    def owner(self, obj: PhoneNumber) -> str:
        return obj.studio.name if obj.studio_id else "Shared"
