"""Messaging admin: opt outs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin, TenantTabularInline
from core.admin_site import request_membership
from core.phone import normalize_e164
from messaging.admin.common import PhoneSearchMixin, member_name, organization_phone_regions
from messaging.models import (
    OptOut,
    OptOutEvent,
    OptOutSource,
    OptOutState,
)
from messaging.services.opt_out import opt_out_set
from studios.models import Organization


# --- Opt-out ledger -------------------------------------------------------------------------------------------
class OptOutEventInline(ReadOnlyAdminMixin, TenantTabularInline):
    model = OptOutEvent
    fk_name = "opt_out"
    extra = 0
    can_delete = False
    fields = ["created_at", "state", "source", "reason", "changed_by_name", "message"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name = "change"
    verbose_name_plural = "history"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("changed_by__user", "message")

    @admin.display(description="by")
    def changed_by_name(self, obj: OptOutEvent) -> str:
        return member_name(obj.changed_by)


class OptOutAdminForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=300,
        required=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Required: why the state is set by hand (e.g. “asked on the phone to stop texts”). Kept in "
        "the ledger's history.",
    )

    class Meta:
        model = OptOut
        fields = ["organization", "phone", "state", "reason"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.initial["reason"] = ""  # every change gives its own reason, never the previous one's
        if "phone" in self.fields:
            self.fields["phone"].help_text = "As you would type it, e.g. (415) 555-0100 or +44 20 7946 0018."

    def _organization(self) -> Organization | None:
        if self.instance.organization_id:
            return self.instance.organization
        return self.cleaned_data.get("organization")

    def clean_phone(self) -> str:
        """What the manager typed, in E.164: with its country code as typed, else read as a national number of
        the organization's own numbers' regions (then the US), in that order."""
        raw = self.cleaned_data.get("phone", "").strip()
        regions = [None] if raw.startswith("+") else organization_phone_regions(self._organization())
        first_error = None
        for region in regions:
            try:
                return normalize_e164(raw, default_region=region)
            except ValidationError as exc:
                first_error = first_error or exc
        raise first_error

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization, phone = self._organization(), cleaned.get("phone")
        if self.instance.pk is None and organization is not None and phone:
            existing = OptOut.objects.for_organization(organization).filter(phone=phone).first()
            if existing is not None:
                self.add_error(
                    "phone",
                    ValidationError(
                        "%(phone)s is already in the ledger (%(state)s): change it there.",
                        code="exists",
                        params={"phone": phone, "state": existing.get_state_display()},
                    ),
                )
        return cleaned

    def validate_unique(self) -> None:
        if "phone" not in self.errors:  # already explained in clean(), in words a manager understands
            super().validate_unique()


@admin.register(OptOut)
class OptOutAdmin(PhoneSearchMixin, TenantModelAdmin):
    form = OptOutAdminForm
    list_display = ["phone", "organization", "state", "source", "changed_at", "changed_by_name", "reason"]
    list_filter = ["state", "source", "organization"]
    search_fields = ["reason"]
    phone_search_fields = ["phone"]
    inlines = [OptOutEventInline]
    actions = None  # no bulk deletion of a compliance record, and no other bulk change

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "changed_by__user")

    def get_inlines(self, request: HttpRequest, obj: OptOut | None):
        return self.inlines if obj is not None else []  # a new row has no history yet

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"state": OptOutState.OPTED_OUT, **super().get_changeform_initial_data(request)}

    def get_fields(self, request: HttpRequest, obj: OptOut | None = None):
        if obj is None:
            return ["organization", "phone", "state", "reason"]
        return ["organization", "phone", "state", "reason", "source", "changed_at", "changed_by_name"]

    def get_readonly_fields(self, request: HttpRequest, obj: OptOut | None = None):
        if obj is None:
            return []
        return ["organization", "phone", "source", "changed_at", "changed_by_name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the ledger is a compliance record: a phone opts back in, its row stays

    @admin.display(description="by", ordering="changed_by__user__full_name")
    def changed_by_name(self, obj: OptOut) -> str:
        return member_name(obj.changed_by)

    def save_model(self, request: HttpRequest, obj: OptOut, form: OptOutAdminForm, change: bool) -> None:
        """Never `obj.save()`: the ledger changes through its service, which records the event and queues the CRM."""
        organization = obj.organization
        member = request_membership(request)
        if member is not None and member.organization_id != organization.pk:
            member = None  # an operator who also belongs to another organization is not one of this one's members
        saved, _changed = opt_out_set(
            organization=organization,
            phone=obj.phone,
            state=form.cleaned_data["state"],
            source=OptOutSource.MANUAL,
            reason=form.cleaned_data["reason"],
            changed_by=member,
        )
        obj.pk = saved.pk
        obj._state.adding = False
        for field in ("state", "source", "reason", "changed_at", "changed_by_id", "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
