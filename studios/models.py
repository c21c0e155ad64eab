"""Tenancy: organizations (customers, the hard boundary), their studios (locations), the people in them,
their phone numbers, their provider accounts (SMS providers and CRM connections) and who each person is in each
connected CRM."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from core import merge_fields, outbound
from core.models import TimeStampedModel
from core.phone import E164Field
from core.secrets import EncryptedSecretField
from core.tenancy import TenantManager, TenantModel, TenantQuerySet
from studios.provider_kinds import (
    ALL_CREDENTIAL_FIELDS,
    CREDENTIALS_NEEDED,
    CRM_KINDS,
    DEFAULT_URLS,
    KIND_FIELDS,
    REQUIRED_FIELDS,
    SECRET_FIELDS,
    URL_FIELDS,
    NumberProvider,
    ProviderKind,
    twilio_sid_validator,
)

slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", "Use lower-case letters, digits and single hyphens (e.g. 'downtown-east')."
)
crm_user_id_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$",
    "A CRM user id is up to 64 letters, digits and . _ : @ - (as the CRM shows it).",
)

# Merge fields a studio's message templates may use; messaging fills them in.
TEMPLATE_FIELDS = frozenset({"first_name", "last_name", "full_name", "studio_name", "owner_name", "owner_first_name"})
# What the template previews fill in: a lead with every field, and one the CRM knows only by phone number.
TEMPLATE_SAMPLE_NO_NAME = {"owner_name": "Ana Lima", "owner_first_name": "Ana"}
TEMPLATE_SAMPLE = {"first_name": "Dana", "last_name": "Scully", "full_name": "Dana Scully", **TEMPLATE_SAMPLE_NO_NAME}


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(f"{value!r} is not an IANA time zone name (e.g. 'America/New_York').")


def validate_template(value: str) -> None:
    """A message template may only use known plain {merge_fields}, each optionally with a {field|fallback}: a typo
    would otherwise reach a lead verbatim, and a format spec or conversion could be abused (core.merge_fields)."""
    try:
        merge_fields.validate(value, allowed=TEMPLATE_FIELDS)
    except merge_fields.TemplateError as exc:
        raise ValidationError(str(exc), code="template") from exc


# --- Organization ---------------------------------------------------------------------------------------------
class OrganizationQuerySet(TenantQuerySet):
    organization_path = "pk"


class Organization(TenantModel, TimeStampedModel):
    """A customer: one company, with its CRM connections. Nothing ever crosses this boundary."""

    slug = models.SlugField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True, help_text="Inactive organizations send and sync nothing.")

    objects = TenantManager.from_queryset(OrganizationQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Studio ---------------------------------------------------------------------------------------------------
class StudioQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(pk__in=member.studios.values("pk"))


DEFAULT_WELCOME_MESSAGE = (
    "Hi {first_name}, thanks for your interest in {studio_name}! Reply YES and we'll book your first visit. "
    "Reply STOP to opt out."
)
DEFAULT_HELP_MESSAGE = "{studio_name}: reply STOP to stop texts, START to resume. Msg & data rates may apply."


class Studio(TenantModel, TimeStampedModel):
    """A location of an organization. Staff work in studios; messages are sent in a studio's name."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="studios")
    slug = models.SlugField(max_length=63, validators=[slug_validator])
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    welcome_message = models.TextField(
        default=DEFAULT_WELCOME_MESSAGE,
        validators=[validate_template],
        help_text="Sent to a new lead. Merge fields: " + ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS)),
    )
    help_message = models.TextField(
        default=DEFAULT_HELP_MESSAGE, validators=[validate_template], help_text="The answer to HELP or INFO."
    )
    is_active = models.BooleanField(default=True)
    accounts = models.ManyToManyField(
        "ProviderAccount",
        through="StudioAccount",
        blank=True,
        related_name="studios",
        help_text="Provider accounts this studio uses instead of the organization's default of the same kind.",
    )

    objects = TenantManager.from_queryset(StudioQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="studio_unique_slug_per_organization"),
        ]

    def __str__(self) -> str:
        return self.name


# --- Membership -----------------------------------------------------------------------------------------------
class MembershipQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(pk=member.pk)  # staff see only themselves


class Membership(TenantModel, TimeStampedModel):
    """A person in an organization: staff act for their studios, managers for every studio of the organization.

    One membership per user keeps the tenant of every request unambiguous.
    """

    class Role(models.TextChoices):
        STAFF = "staff", "Staff"
        MANAGER = "manager", "Manager"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    studios = models.ManyToManyField(
        Studio, blank=True, related_name="staff_memberships", help_text="The studios a staff member works in."
    )
    is_active = models.BooleanField(default=True)

    objects = TenantManager.from_queryset(MembershipQuerySet)()

    class Meta(TenantModel.Meta):
        verbose_name = "member"
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=["staff", "manager"]), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.organization})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


# --- Provider accounts ----------------------------------------------------------------------------------------
class VendorURLField(models.URLField):
    """A vendor endpoint. Typed without a scheme it means https:// (Django 6's default, chosen now). Which hosts
    it may name is the account's rule (ProviderAccount.clean, core/outbound.py), since it depends on the kind."""

    def formfield(self, **kwargs):
        kwargs.setdefault("assume_scheme", "https")
        return super().formfield(**kwargs)


class ProviderAccount(TenantModel, TimeStampedModel):
    """Credentials for one vendor account of an organization. Studios use the organization's default account of
    a kind unless they are linked to their own (StudioAccount). Secrets are encrypted at rest."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="provider_accounts")
    name = models.SlugField(max_length=63, validators=[slug_validator], help_text="A handle, e.g. 'acme-twilio'.")
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    is_default = models.BooleanField(
        default=False, help_text="The organization's account of this kind for studios without one of their own."
    )
    # SMS vendors authenticating with an account SID and token (Twilio)
    account_sid = models.CharField("account SID", max_length=64, blank=True, validators=[twilio_sid_validator])
    auth_token = EncryptedSecretField(blank=True)
    # Vendors authenticating through OAuth (the CRM, an SMS vendor): the client and its refresh token
    client_id = models.CharField("client ID", max_length=128, blank=True)
    client_secret = EncryptedSecretField(blank=True)
    refresh_token = EncryptedSecretField(blank=True)
    # Where the vendor lives: data centre, region or the local sandbox.
    api_base_url = VendorURLField(
        "API base URL", blank=True, help_text="The vendor's API, for kinds that use one; blank: the vendor's default."
    )
    accounts_url = VendorURLField(
        "OAuth accounts server",
        blank=True,
        help_text="Where the vendor's OAuth lives for the account's region (data centre); blank: the default.",
    )
    api_domain = VendorURLField(
        "API domain", blank=True, help_text="The CRM's API host for the account's region; blank: the default."
    )
    # Set only by operators (a superuser in the admin, or the tenants file) when they point the account at a host
    # that is not the vendor's own (the sandbox, an emulator); a manager's edit of a URL clears it.
    custom_endpoints = models.BooleanField(
        "operator-set endpoints",
        default=False,
        help_text="The URLs may name hosts other than the vendor's own (set by an operator, e.g. for the sandbox).",
    )

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        ordering = ["organization__name", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="provider_account_unique_name"),
            models.UniqueConstraint(
                fields=["organization", "kind"],
                condition=Q(is_default=True),
                name="provider_account_one_default_per_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in ProviderKind]), name="provider_account_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def apply_default_urls(self) -> None:
        for field, url in DEFAULT_URLS.get(self.kind, {}).items():
            if not getattr(self, field):
                setattr(self, field, url)

    def clean(self) -> None:
        super().clean()
        if self.kind not in KIND_FIELDS:
            return
        self.apply_default_urls()
        errors: dict[str, str] = {}
        for name in URL_FIELDS:
            value = (getattr(self, name) or "").strip()
            if value and name in KIND_FIELDS[self.kind]:
                try:
                    value = outbound.endpoint_clean(value, kind=self.kind, field=name, operator=self.custom_endpoints)
                except outbound.OutboundRefused as exc:
                    errors[name] = exc.message
            setattr(self, name, value.rstrip("/"))
        for name in REQUIRED_FIELDS[self.kind]:
            if not getattr(self, name):
                errors[name] = f"Required for a {self.get_kind_display()} account."
        for name in ALL_CREDENTIAL_FIELDS - KIND_FIELDS[self.kind]:
            if getattr(self, name):
                errors[name] = f"Not used by a {self.get_kind_display()} account; leave it empty."
        if errors:
            raise ValidationError(errors)

    def endpoints_are_vendors_own(self) -> bool:
        """Whether every URL of the account is one of the vendor's own hosts (blank means the vendor's default)."""
        return all(
            outbound.vendor_url_allowed(kind=self.kind, field=name, url=getattr(self, name))
            for name in URL_FIELDS
            if getattr(self, name) and name in KIND_FIELDS.get(self.kind, ())
        )

    @property
    def has_credentials(self) -> bool:
        return all(getattr(self, name) for name in CREDENTIALS_NEEDED.get(self.kind, SECRET_FIELDS))

    @property
    def is_crm_connection(self) -> bool:
        return self.kind in CRM_KINDS


class StudioAccountQuerySet(TenantQuerySet):
    organization_path = "studio__organization"


class StudioAccount(TenantModel):
    """A studio using its own provider account instead of the organization's default (one per kind)."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="studio_accounts")
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="studio_accounts")
    # Copied from the account so the database itself can refuse two accounts of one kind for a studio.
    kind = models.CharField(max_length=16, choices=ProviderKind.choices, editable=False)

    objects = TenantManager.from_queryset(StudioAccountQuerySet)()

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["studio", "kind"], name="studio_account_one_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.studio} uses {self.account}"

    def clean(self) -> None:
        super().clean()
        if self.account_id and self.studio_id and self.account.organization_id != self.studio.organization_id:
            raise ValidationError({"account": "The account belongs to another organization."})

    def save(self, *args, **kwargs):
        self.kind = self.account.kind
        super().save(*args, **kwargs)


class MemberCrmUserQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(membership=member)  # staff see only their own links


class MemberCrmUser(TenantModel):
    """Who a person is in one of the organization's CRMs: leads that CRM user owns are routed to the person's
    studios, and their sign-in through that CRM finds them. One id per (person, connection), since an
    organization may connect two CRMs; one person per CRM user of a connection."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="crm_users")
    connection = models.ForeignKey(
        ProviderAccount,
        on_delete=models.CASCADE,
        related_name="member_crm_users",
        limit_choices_to={"kind__in": sorted(CRM_KINDS)},
        help_text="The CRM connection (a CRM provider account) this user id belongs to.",
    )
    crm_user_id = models.CharField("CRM user id", max_length=64, validators=[crm_user_id_validator])

    objects = TenantManager.from_queryset(MemberCrmUserQuerySet)()

    class Meta(TenantModel.Meta):
        verbose_name = "member's CRM user"
        ordering = ["membership_id", "connection_id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "crm_user_id"], name="member_crm_user_unique_user"),
            models.UniqueConstraint(fields=["membership", "connection"], name="member_crm_user_one_per_connection"),
        ]

    def __str__(self) -> str:
        return f"{self.crm_user_id} on {self.connection.name}"

    def clean(self) -> None:
        super().clean()
        self.crm_user_id = (self.crm_user_id or "").strip()
        org_id = self.organization_id
        for name in ("membership", "connection"):
            related = getattr(self, name) if getattr(self, f"{name}_id") else None
            if related is not None and org_id and related.organization_id != org_id:
                raise ValidationError({name: "It belongs to another organization."})
        if self.connection_id and not self.connection.is_crm_connection:
            raise ValidationError({"connection": f"{self.connection.name} is not a CRM connection."})


# --- Phone numbers --------------------------------------------------------------------------------------------
class PhoneNumberQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        studio_ids = member.studios.values("pk")
        return queryset.filter(
            Q(studio__in=studio_ids)
            | Q(studio__isnull=True, shared_with__isnull=True)
            | Q(studio__isnull=True, shared_with__in=studio_ids)
        ).distinct()

    def serving(self, studio: Studio):
        """Numbers a studio may text from: its own, and shared ones that serve it."""
        return (
            self.for_organization(studio.organization)
            .filter(
                Q(studio=studio)
                | Q(studio__isnull=True, shared_with__isnull=True)
                | Q(studio__isnull=True, shared_with=studio)
            )
            .distinct()
        )


class PhoneNumber(TenantModel, TimeStampedModel):
    """A number texts are sent from and received on. Owned by a studio, or shared by the organization (all its
    studios, or those listed in `shared_with`). Unique per provider across all tenants, because inbound texts
    are routed by the number they were sent to."""

    Provider = NumberProvider

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="phone_numbers")
    number = E164Field(help_text="E.164, e.g. +14155550100. Spaces and dashes are removed.")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    account = models.ForeignKey(
        ProviderAccount,
        on_delete=models.PROTECT,
        related_name="phone_numbers",
        help_text="The provider account that owns the number; its credentials send and verify webhooks.",
    )
    studio = models.ForeignKey(
        Studio,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="phone_numbers",
        help_text="Leave empty for a number shared by the organization's studios.",
    )
    shared_with = models.ManyToManyField(
        Studio,
        blank=True,
        related_name="shared_phone_numbers",
        help_text="For a shared number: the studios it serves. Empty means every studio.",
    )
    label = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)

    objects = TenantManager.from_queryset(PhoneNumberQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["organization__name", "number"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "number"], name="phone_number_unique_per_provider"),
            models.CheckConstraint(
                condition=Q(provider__in=[p.value for p in NumberProvider]), name="phone_number_provider_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.get_provider_display()})"

    @property
    def is_shared(self) -> bool:
        return self.studio_id is None

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        if self.studio_id and self.organization_id and self.studio.organization_id != self.organization_id:
            errors["studio"] = "The studio belongs to another organization."
        if self.account_id:
            if self.organization_id and self.account.organization_id != self.organization_id:
                errors["account"] = "The account belongs to another organization."
            elif self.provider and self.account.kind != self.provider:
                errors["account"] = (
                    f"A {self.get_provider_display()} number needs a {self.get_provider_display()} account, "
                    f"not {self.account.get_kind_display()}."
                )
        if errors:
            raise ValidationError(errors)
