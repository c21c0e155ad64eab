"""The managers' admin: studios, numbers, members and provider accounts of their own organization."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from core import merge_fields
from core.admin import TenantModelAdmin, TenantTabularInline
from core.admin_site import is_operator, request_manager
from core.exceptions import ApplicationError
from core.forms import WriteOnlySecretsFormMixin
from core.phone import normalize_e164
from studios import services
from studios.models import (
    KIND_FIELDS,
    SECRET_FIELDS,
    TEMPLATE_FIELDS,
    TEMPLATE_SAMPLE,
    TEMPLATE_SAMPLE_NO_NAME,
    URL_FIELDS,
    Membership,
    Organization,
    PhoneNumber,
    ProviderAccount,
    ProviderKind,
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


# --- Members --------------------------------------------------------------------------------------------------
class MembershipAdminForm(forms.ModelForm):
    email = forms.EmailField(help_text="They sign in with this address.")
    full_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Sets their password; leave blank to keep it (or, for a new member, to let them "
        "sign in with Zoho only).",
    )
    precise_refusals = False  # operators are told why an address is refused (MembershipAdmin.get_form)

    class Meta:
        model = Membership
        fields = ["organization", "email", "full_name", "role", "studios", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["email"].initial = self.instance.user.email
            self.fields["email"].disabled = True
            self.fields["full_name"].initial = self.instance.user.full_name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = cleaned.get("organization")
        role = cleaned.get("role")
        if organization is None or role is None:
            return cleaned
        try:
            services.membership_studios_check(organization=organization, role=role, studios=cleaned.get("studios", []))
            if self.instance.pk:
                services.membership_manager_remains_check(
                    membership=self.instance, role=role, is_active=cleaned.get("is_active", True)
                )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        except ApplicationError as exc:
            self.add_error(None, exc.message)
        if not self.instance.pk and cleaned.get("email"):
            try:
                services.membership_email_check(
                    organization=organization, email=cleaned["email"], precise=self.precise_refusals
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Membership)
class MembershipAdmin(TenantModelAdmin):
    form = MembershipAdminForm
    list_display = ["email", "full_name", "organization", "role", "studio_list", "is_active"]
    list_filter = ["role", "is_active", ("studios", RelatedOnlyFieldListFilter), "organization"]
    search_fields = ["user__email", "user__full_name", "crm_users__crm_user_id"]
    filter_horizontal = ["studios"]
    actions = None  # bulk deletion would skip the last-manager rule; delete members one at a time

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("user", "organization").prefetch_related("studios")

    def get_form(self, request: HttpRequest, obj: Membership | None = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        form.precise_refusals = is_operator(request)  # a class made for this request by modelform_factory
        return form

    fields = ["organization", "email", "full_name", "role", "studios", "is_active", "password"]

    @admin.display(description="email", ordering="user__email")
    def email(self, obj: Membership) -> str:
        return obj.user.email

    @admin.display(description="name", ordering="user__full_name")
    def full_name(self, obj: Membership) -> str:
        return obj.user.full_name

    @admin.display(description="studios")
    def studio_list(self, obj: Membership) -> str:
        return "All (manager)" if obj.is_manager else ", ".join(s.name for s in obj.studios.all())

    def save_model(self, request: HttpRequest, obj: Membership, form: MembershipAdminForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.membership_update(
                membership=obj,
                role=data["role"],
                studios=data.get("studios", []),
                full_name=data.get("full_name", ""),
                is_active=data.get("is_active", True),
                password=data.get("password") or None,
            )
        else:
            created = services.membership_create(
                organization=data["organization"],
                email=data["email"],
                role=data["role"],
                studios=data.get("studios", []),
                full_name=data.get("full_name", ""),
                password=data.get("password") or None,
            )
            obj.pk = created.pk
            obj.user = created.user

    def save_related(self, request: HttpRequest, form: MembershipAdminForm, formsets: Any, change: bool) -> None:
        pass  # the service already set the studios

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_delete(membership=obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None:
            manager = request_manager(request)
            if manager is not None and obj.pk == manager.pk:
                return False  # a manager cannot delete themselves out of their own admin
            try:
                services.membership_manager_remains_check(membership=obj, role=Membership.Role.STAFF, is_active=False)
            except ApplicationError:
                return False  # the last active manager: deleting them would leave nobody to run the organization
        return super().has_delete_permission(request, obj)


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


@admin.register(ProviderAccount)
class ProviderAccountAdmin(TenantModelAdmin):
    form = ProviderAccountAdminForm
    list_display = ["name", "kind", "organization", "is_default", "credentials", "endpoint"]
    list_filter = ["kind", "is_default", "organization"]
    search_fields = ["name", "account_sid", "client_id"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "kind", "is_default"]}),
        ("Twilio", {"fields": ["account_sid", "auth_token"]}),
        (
            "Zoho (CRM and Voice)",
            {
                "fields": ["client_id", "client_secret", "refresh_token", "accounts_url", "api_domain"],
                "description": "From the Zoho API console. Leave the URLs blank for the US data centre (zoho.com); "
                "other data centres have their own.",
            },
        ),
        (
            "Endpoint",
            {
                "fields": ["api_base_url"],
                "description": "Twilio and Zoho Voice only. Blank means the vendor's default.",
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
        return obj.api_domain if obj.kind == ProviderKind.ZOHO_CRM else obj.api_base_url
