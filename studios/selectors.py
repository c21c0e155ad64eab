"""Reads of the tenancy model that other apps need (which account a studio sends with, which numbers serve it)."""

from __future__ import annotations

from django.db.models import F, QuerySet

from core.exceptions import ApplicationError
from studios.models import Membership, PhoneNumber, ProviderAccount, ProviderKind, Studio, StudioAccount


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
