"""Reads of the tenancy model that other apps need (which account a studio sends with, which numbers serve it)."""

from __future__ import annotations

from django.db.models import F, QuerySet

from core.exceptions import ApplicationError
from studios.models import MemberCrmUser, Membership, PhoneNumber, ProviderAccount, ProviderKind, Studio, StudioAccount


def provider_account_for_studio(*, studio: Studio, kind: str) -> ProviderAccount:
    """The studio's own account of `kind` if it has one, else its organization's default (or only) one."""
    own = (
        StudioAccount.objects.for_organization(studio.organization)
        .select_related("account")
        .filter(studio=studio, kind=kind)
        .first()
    )
    if own is not None:
        return own.account
    candidates = ProviderAccount.objects.for_organization(studio.organization).filter(kind=kind)
    default = candidates.filter(is_default=True).first()
    if default is not None:
        return default
    only = list(candidates[:2])
    if len(only) == 1:
        return only[0]
    label = ProviderKind(kind).label
    if not only:
        raise ApplicationError(f"{studio.organization.name} has no {label} account; add one in Provider accounts.")
    raise ApplicationError(
        f"{studio.organization.name} has several {label} accounts and none is the default; "
        f"mark one as default or link one to {studio.name}."
    )


def phone_numbers_serving(*, studio: Studio) -> QuerySet[PhoneNumber]:
    """Active numbers a studio can text from: its own first, then shared ones that serve it."""
    return (
        PhoneNumber.objects.serving(studio)
        .filter(is_active=True)
        .select_related("account")
        .order_by(F("studio_id").asc(nulls_last=True), "number")
    )


def studios_visible_to(*, member: Membership) -> QuerySet[Studio]:
    return Studio.objects.visible_to(member).filter(is_active=True)


def memberships_for_crm_user(*, connection: ProviderAccount, crm_user_id: str) -> QuerySet[Membership]:
    """The active members linked to a CRM user of one connection (at most one: the link is unique)."""
    if not crm_user_id:
        return Membership.objects.none()
    return Membership.objects.for_organization(connection.organization).filter(
        is_active=True, crm_users__connection=connection, crm_users__crm_user_id=crm_user_id
    )


def membership_for_crm_user(*, connection: ProviderAccount, crm_user_id: str) -> Membership | None:
    """The active member who is `crm_user_id` in the CRM behind `connection`, with their studios."""
    return memberships_for_crm_user(connection=connection, crm_user_id=crm_user_id).prefetch_related("studios").first()


def crm_user_id_of(*, membership: Membership, connection: ProviderAccount) -> str:
    """Who the member is in the CRM behind `connection` ("" when not linked)."""
    link = (
        MemberCrmUser.objects.for_organization(membership.organization)
        .filter(membership=membership, connection=connection)
        .first()
    )
    return link.crm_user_id if link else ""
