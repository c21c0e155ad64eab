"""Provider accounts: SMS vendors and CRM connections, secrets write-only."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.admin import TenantModelAdmin
from core.admin_site import is_operator
from core.forms import WriteOnlySecretsFormMixin
from studios.models import (
    KIND_FIELDS,
    SECRET_FIELDS,
    URL_FIELDS,
    ProviderAccount,
    ProviderKind,
)


# --- Provider accounts ----------------------------------------------------------------------------------------
class ProviderAccountAdminForm(WriteOnlySecretsFormMixin, forms.ModelForm):
    secret_fields = SECRET_FIELDS
    # Operators may point an account at hosts other than the vendor's own (the sandbox, an emulator); managers may
    # not. ProviderAccountAdmin.get_form gives operators a subclass with this set.
    operator = False

    class Meta:
        model = ProviderAccount
        fields = [
            "organization",
            "name",
            "kind",
            "is_default",
            "account_sid",
            "auth_token",
            "api_base_url",
            "client_id",
            "client_secret",
            "refresh_token",
            "accounts_url",
            "api_domain",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.operator:
            # Derived, not ticked: any URL outside the vendor's own hosts needs an operator, and this form has one.
            probe = ProviderAccount(kind=cleaned.get("kind") or self.instance.kind)
            for name in URL_FIELDS:
                setattr(probe, name, cleaned.get(name, getattr(self.instance, name)) or "")
            self.instance.custom_endpoints = bool(probe.kind) and not probe.endpoints_are_vendors_own()
        elif any(name in self.changed_data for name in URL_FIELDS):
            # A manager's URL is checked against the vendor's own hosts; an operator's permission never passes on.
            self.instance.custom_endpoints = False
        return cleaned


def kinds_using(field: str) -> str:
    """The kinds of account a credential field belongs to, e.g. for a fieldset's title."""
    return ", ".join(kind.label for kind in ProviderKind if field in KIND_FIELDS[kind])


@admin.register(ProviderAccount)
class ProviderAccountAdmin(TenantModelAdmin):
    form = ProviderAccountAdminForm
    list_display = ["name", "kind", "organization", "is_default", "credentials", "endpoint"]
    list_filter = ["kind", "is_default", "organization"]
    search_fields = ["name", "account_sid", "client_id"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "kind", "is_default"]}),
        (f"Account SID and token ({kinds_using('account_sid')})", {"fields": ["account_sid", "auth_token"]}),
        (
            f"OAuth client ({kinds_using('client_id')})",
            {
                "fields": ["client_id", "client_secret", "refresh_token", "accounts_url", "api_domain"],
                "description": "From the vendor's API console. Leave the URLs blank for the vendor's default "
                "region (data centre); other regions have their own.",
            },
        ),
        (
            "Endpoint",
            {
                "fields": ["api_base_url"],
                "description": f"{kinds_using('api_base_url')} only. Blank means the vendor's default.",
            },
        ),
    ]
    credential_order = [
        "account_sid",
        "auth_token",
        "client_id",
        "client_secret",
        "refresh_token",
        "accounts_url",
        "api_domain",
        "api_base_url",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: ProviderAccount | None = None):
        """A new account shows every credential; an existing one only those of its kind."""
        if obj is None:
            return self.fieldsets
        fields = [name for name in self.credential_order if name in KIND_FIELDS[obj.kind]]
        return [self.fieldsets[0], (f"{obj.get_kind_display()} credentials", {"fields": fields})]

    def get_readonly_fields(self, request: HttpRequest, obj: ProviderAccount | None = None):
        return ["kind"] if obj is not None else []  # numbers and studios rely on an account's kind

    def get_form(self, request: HttpRequest, obj: ProviderAccount | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change, **kwargs)
        if is_operator(request):
            form = type(form.__name__, (form,), {"operator": True})
        return form

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization")

    @admin.display(description="credentials")
    def credentials(self, obj: ProviderAccount) -> str:
        return "set" if obj.has_credentials else "missing"

    @admin.display(description="endpoint")
    def endpoint(self, obj: ProviderAccount) -> str:
        return obj.api_domain or obj.api_base_url  # a kind uses one of the two (KIND_FIELDS)
