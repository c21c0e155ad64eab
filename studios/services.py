"""Writes to the tenancy model. Admin forms, `manage.py tenants apply` and the demo all come through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import phonenumbers

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from core.exceptions import ApplicationError
from studios.models import MemberCrmUser, Membership, Organization, PhoneNumber, ProviderAccount, Studio, StudioAccount
from studios.provider_kinds import crm_user_id_clean

User = get_user_model()

# --- Refusals that name nothing of another organization -----------------------------------------------------
# Numbers are unique per provider across all tenants and a person belongs to one organization, so a manager who
# types another organization's number or member must be refused. They get the same words as for a value refused
# for any other reason (and the form the same page), so the admin cannot be used to learn what other customers
# have. Operators (`precise=True`, and the tenants file) are told the reason.
NUMBER_REFUSED = "This number cannot be added. Contact support if you own it."
EMAIL_REFUSED = "This email address cannot be added. Contact support if it is yours."

# Number types no sender of ours should be: a lead who replies to one pays for the call or text.
REFUSED_NUMBER_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium-rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared-cost",
}


def phone_number_check(
    *,
    organization: Organization | None,
    number: str,
    provider: str,
    phone_number: PhoneNumber | None = None,
    precise: bool = False,
) -> None:
    """Refuse an E.164 `number` that `organization` cannot have for `provider` (`phone_number`: the row being
    edited, which may keep its own number). Raises ValidationError({"number": ...})."""
    taken = (
        PhoneNumber.objects.unscoped()  # uniqueness spans tenants; only the refusal below may be told
        .select_related("organization")
        .filter(provider=provider, number=number)
        .exclude(pk=phone_number.pk if phone_number is not None else None)
        .first()
    )
    if taken is not None and organization is not None and taken.organization_id == organization.pk:
        raise ValidationError({"number": ValidationError(f"{number} is already one of your numbers.", code="exists")})
    if taken is not None:
        reason = f"{number} is already a number of {taken.organization.name}."
    else:
        number_type = phonenumbers.number_type(phonenumbers.parse(number))
        if number_type not in REFUSED_NUMBER_TYPES:
            return
        reason = f"{number} is a {REFUSED_NUMBER_TYPES[number_type]} number: a lead who replies would pay for it."
    raise ValidationError({"number": ValidationError(reason if precise else NUMBER_REFUSED, code="refused")})


def membership_email_check(*, organization: Organization | None, email: str, precise: bool = False) -> str:
    """The address, normalized, if a new member of `organization` may sign in with it; else ValidationError
    ({"email": ...}). Precise only about the organization's own members (and, for operators, everyone)."""
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return email
    membership = (
        Membership.objects.unscoped()  # the person's one membership, in whichever organization: told to operators only
        .select_related("organization")
        .filter(user=user)
        .first()
    )
    if membership is not None and organization is not None and membership.organization_id == organization.pk:
        message = f"{email} is already a member of {organization.name}."
        raise ValidationError({"email": ValidationError(message, code="exists")})
    if membership is not None:
        reason = f"{email} is already a member of {membership.organization.name}; a person belongs to one organization."
    else:
        reason = f"{email} is an existing sign-in with no organization (an operator's, or one left behind)."
    raise ValidationError({"email": ValidationError(reason if precise else EMAIL_REFUSED, code="refused")})


def membership_studios_check(*, organization: Organization, role: str, studios: Iterable[Studio]) -> list[Studio]:
    """Staff need at least one studio, and only studios of their own organization."""
    studios = list(studios)
    foreign = [s.name for s in studios if s.organization_id != organization.pk]
    if foreign:
        raise ValidationError({"studios": f"Not studios of {organization.name}: {', '.join(foreign)}."})
    if role == Membership.Role.STAFF and not studios:
        raise ValidationError({"studios": "A staff member works in at least one studio; choose one or more."})
    return studios


def membership_manager_remains_check(*, membership: Membership, role: str, is_active: bool) -> None:
    """Refuse the change that would leave an organization with no active manager: nobody could fix it after."""
    if not membership.pk or not (membership.is_manager and membership.is_active):
        return
    if role == Membership.Role.MANAGER and is_active:
        return
    others = (
        Membership.objects.for_organization(membership.organization)
        .filter(role=Membership.Role.MANAGER, is_active=True, user__is_active=True)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ApplicationError(
            f"{membership.user.email} is the last active manager of {membership.organization.name}; "
            "make someone else a manager first."
        )


@transaction.atomic
def membership_create(
    *,
    organization: Organization,
    email: str,
    role: str,
    studios: Iterable[Studio] = (),
    full_name: str = "",
    crm_user_ids: Mapping[ProviderAccount, str] | None = None,
    password: str | None = None,
    is_active: bool = True,
) -> Membership:
    """Add a person to an organization, creating their sign-in. Without a password they cannot sign in with
    one until it is set (signing in through their CRM, or a reset). `crm_user_ids`: who they are in each of the
    organization's CRM connections."""
    email = membership_email_check(organization=organization, email=email)
    studios = membership_studios_check(organization=organization, role=role, studios=studios)
    user = User(email=email, full_name=full_name)
    user.full_clean(exclude=["password"])
    if password:
        validate_password(password, user)
    user = User.objects.create_user(email=email, password=password or None, full_name=full_name)
    membership = Membership(user=user, organization=organization, role=role, is_active=is_active)
    membership.full_clean()
    membership.save()
    membership.studios.set(studios if role == Membership.Role.STAFF else [])
    for connection, crm_user_id in (crm_user_ids or {}).items():
        member_crm_user_set(membership=membership, connection=connection, crm_user_id=crm_user_id)
    return membership


@transaction.atomic
def membership_update(
    *,
    membership: Membership,
    role: str,
    studios: Iterable[Studio] = (),
    full_name: str | None = None,
    crm_user_ids: Mapping[ProviderAccount, str] | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> Membership:
    is_active = membership.is_active if is_active is None else is_active
    membership_manager_remains_check(membership=membership, role=role, is_active=is_active)
    studios = membership_studios_check(organization=membership.organization, role=role, studios=studios)
    membership.role = role
    membership.is_active = is_active
    membership.full_clean()
    membership.save()
    membership.studios.set(studios if role == Membership.Role.STAFF else [])
    for connection, crm_user_id in (crm_user_ids or {}).items():
        member_crm_user_set(membership=membership, connection=connection, crm_user_id=crm_user_id)
    user = membership.user
    user_fields = []
    if full_name is not None and full_name != user.full_name:
        user.full_name = full_name
        user_fields.append("full_name")
    if password:
        validate_password(password, user)
        user.set_password(password)
        user_fields.append("password")
    if user_fields:
        user.save(update_fields=user_fields)
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    """Remove a person: their membership and their sign-in (a user belongs to exactly one organization)."""
    membership_manager_remains_check(membership=membership, role=Membership.Role.STAFF, is_active=False)
    user = membership.user
    membership.delete()
    if not user.is_superuser:
        user.delete()


@transaction.atomic
def studio_accounts_set(*, studio: Studio, accounts: Iterable[ProviderAccount]) -> None:
    """Point a studio at its own provider accounts (at most one per kind); others fall back to the defaults."""
    accounts = list(accounts)
    kinds = [a.kind for a in accounts]
    duplicated = sorted({k for k in kinds if kinds.count(k) > 1})
    if duplicated:
        raise ValidationError({"accounts": f"A studio uses one account per kind; several given for {duplicated}."})
    foreign = [a.name for a in accounts if a.organization_id != studio.organization_id]
    if foreign:
        raise ValidationError({"accounts": f"Not accounts of {studio.organization.name}: {', '.join(foreign)}."})
    StudioAccount.objects.for_organization(studio.organization).filter(studio=studio).exclude(
        account__in=accounts
    ).delete()
    existing = set(
        StudioAccount.objects.for_organization(studio.organization)
        .filter(studio=studio)
        .values_list("account_id", flat=True)
    )
    for account in accounts:
        if account.pk not in existing:
            StudioAccount(studio=studio, account=account).save()


def member_crm_user_check(*, membership: Membership | None, connection: ProviderAccount, crm_user_id: str) -> str:
    """The id in its CRM's one form (`provider_kinds.crm_user_id_clean`), if `membership`
    (None: a member not saved yet) may be `crm_user_id` on `connection`;
    else ValidationError: the connection is another organization's or not a CRM, or another person of the
    organization is that CRM user already (named: they are in the same organization)."""
    if membership is not None and connection.organization_id != membership.organization_id:
        raise ValidationError({"connection": "The connection belongs to another organization."})
    if not connection.is_crm_connection:
        raise ValidationError({"connection": f"{connection.name} is not a CRM connection."})
    try:
        crm_user_id = crm_user_id_clean(connection.kind, crm_user_id or "") if (crm_user_id or "").strip() else ""
    except ValueError as exc:
        raise ValidationError({"crm_user_id": str(exc)}) from None
    if not crm_user_id:
        return ""
    taken = (
        MemberCrmUser.objects.for_organization(connection.organization)
        .select_related("membership__user")
        .filter(connection=connection, crm_user_id=crm_user_id)
        .exclude(membership_id=membership.pk if membership is not None else None)
        .first()
    )
    if taken is not None:
        raise ValidationError(
            {"crm_user_id": f"CRM user {crm_user_id} on {connection.name} is already {taken.membership.user.email}."}
        )
    return crm_user_id


@transaction.atomic
def member_crm_user_set(
    *, membership: Membership, connection: ProviderAccount, crm_user_id: str
) -> MemberCrmUser | None:
    """Say who `membership` is in the CRM behind `connection` (an empty id removes the link). Another person of
    the organization already linked to that CRM user is a ValidationError naming them: one person per CRM user."""
    if connection.organization_id != membership.organization_id:
        raise ValidationError({"connection": "The connection belongs to another organization."})
    crm_user_id = member_crm_user_check(membership=membership, connection=connection, crm_user_id=crm_user_id)
    links = MemberCrmUser.objects.for_organization(membership.organization)
    if not crm_user_id:
        links.filter(membership=membership, connection=connection).delete()
        return None
    link = links.filter(membership=membership, connection=connection).first() or MemberCrmUser(
        organization=membership.organization, membership=membership, connection=connection
    )
    if link.crm_user_id == crm_user_id:
        return link
    link.crm_user_id = crm_user_id
    link.full_clean()
    link.save()
    return link
