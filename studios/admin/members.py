"""Members: their sign-in, role, studios and who they are in each of the organization's CRM connections."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.admin import TenantModelAdmin
from core.admin_site import is_operator, request_manager
from core.exceptions import ApplicationError
from studios import services
from studios.models import CRM_KINDS, Membership, ProviderAccount, crm_user_id_validator


# --- Members --------------------------------------------------------------------------------------------------
class MembershipAdminForm(forms.ModelForm):
    email = forms.EmailField(help_text="They sign in with this address.")
    full_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Sets their password; leave blank to keep it (or, for a new member, to let them "
        "sign in through their CRM only).",
    )
    precise_refusals = False  # operators are told why an address is refused (MembershipAdmin.get_form)
    # The organization's CRM connections, one "CRM user id" field each (MembershipAdmin.get_form declares them).
    crm_connections: list[ProviderAccount] = []

    class Meta:
        model = Membership
        fields = ["organization", "email", "full_name", "role", "studios", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["email"].initial = self.instance.user.email
            self.fields["email"].disabled = True
            self.fields["full_name"].initial = self.instance.user.full_name
            linked = {link.connection_id: link.crm_user_id for link in self.instance.crm_users.all()}
            for connection in self.crm_connections:
                self.fields[crm_field_name(connection)].initial = linked.get(connection.pk, "")

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
        self.clean_crm_user_ids(organization)
        return cleaned

    def clean_crm_user_ids(self, organization: Any) -> None:
        """One person per CRM user of a connection: say so on the field, before anything is saved."""
        for connection in self.crm_connections:
            name = crm_field_name(connection)
            if not self.cleaned_data.get(name) or connection.organization_id != organization.pk:
                continue
            try:
                self.cleaned_data[name] = services.member_crm_user_check(
                    membership=self.instance if self.instance.pk else None,
                    connection=connection,
                    crm_user_id=self.cleaned_data[name],
                )
            except ValidationError as exc:
                self.add_error(name, exc.messages)

    def crm_user_ids(self) -> dict[ProviderAccount, str]:
        """What the form says each connection's CRM user id is ("" removes the link); only the connections of the
        organization the member is saved in (an operator may have chosen another one)."""
        organization = self.cleaned_data["organization"]
        return {
            connection: self.cleaned_data.get(crm_field_name(connection), "")
            for connection in self.crm_connections
            if connection.organization_id == organization.pk
        }


def crm_field_name(connection: ProviderAccount) -> str:
    return f"crm_user_id_{connection.pk}"


def crm_user_id_field(connection: ProviderAccount) -> forms.CharField:
    return forms.CharField(
        label=f"CRM user id on {connection.name}",
        required=False,
        max_length=64,
        validators=[crm_user_id_validator],
        help_text=f"Who they are in {connection.get_kind_display()} ({connection.name}): leads that user owns are "
        "routed to them, and signing in through that CRM finds them. Blank: not linked.",
    )


@admin.register(Membership)
class MembershipAdmin(TenantModelAdmin):
    form = MembershipAdminForm
    list_display = ["email", "full_name", "organization", "role", "studio_list", "crm_user_list", "is_active"]
    list_filter = ["role", "is_active", ("studios", RelatedOnlyFieldListFilter), "organization"]
    search_fields = ["user__email", "user__full_name", "crm_users__crm_user_id"]
    filter_horizontal = ["studios"]
    actions = None  # bulk deletion would skip the last-manager rule; delete members one at a time

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("user", "organization")
            .prefetch_related("studios", "crm_users__connection")
        )

    fields = ["organization", "email", "full_name", "role", "studios", "is_active", "password"]

    def crm_connections(self, request: HttpRequest, obj: Membership | None) -> list[ProviderAccount]:
        """The CRM connections of the member's organization (a manager's own for a new member). An operator adding
        a member has not chosen the organization yet: the ids are set once the member exists."""
        manager = request_manager(request)
        if obj is not None:
            organization = obj.organization
        elif manager is not None and not is_operator(request):
            organization = manager.organization
        else:
            return []
        return list(
            ProviderAccount.objects.for_organization(organization)
            .filter(kind__in=CRM_KINDS)
            .order_by("-is_default", "name")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Membership | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        names = [crm_field_name(connection) for connection in self.crm_connections(request, obj)]
        if not names:
            return fieldsets
        return [*fieldsets, ("Who they are in the CRM", {"fields": names})]

    def get_form(self, request: HttpRequest, obj: Membership | None = None, **kwargs: Any):
        # A form class for this request: operators get precise refusals; one declared field per CRM connection
        # of this member's organization, so no other organization's connection can be named or set.
        connections = self.crm_connections(request, obj)
        attrs: dict[str, Any] = {crm_field_name(c): crm_user_id_field(c) for c in connections}
        attrs.update(crm_connections=connections, precise_refusals=is_operator(request))
        kwargs["form"] = type(self.form.__name__, (self.form,), attrs)
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="email", ordering="user__email")
    def email(self, obj: Membership) -> str:
        return obj.user.email

    @admin.display(description="name", ordering="user__full_name")
    def full_name(self, obj: Membership) -> str:
        return obj.user.full_name

    @admin.display(description="studios")
    def studio_list(self, obj: Membership) -> str:
        return "All (manager)" if obj.is_manager else ", ".join(s.name for s in obj.studios.all())

    @admin.display(description="CRM user ids")
    def crm_user_list(self, obj: Membership) -> str:
        return ", ".join(str(link) for link in obj.crm_users.all())

    def save_model(self, request: HttpRequest, obj: Membership, form: MembershipAdminForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.membership_update(
                membership=obj,
                role=data["role"],
                studios=data.get("studios", []),
                full_name=data.get("full_name", ""),
                crm_user_ids=form.crm_user_ids(),
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
                crm_user_ids=form.crm_user_ids(),
                password=data.get("password") or None,
            )
            obj.pk = created.pk
            obj.user = created.user

    def save_related(self, request: HttpRequest, form: MembershipAdminForm, formsets: Any, change: bool) -> None:
        pass  # the service already set the studios and the CRM user ids

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
