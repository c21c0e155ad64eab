"""Write the tenancy model back in the tenants file format. Secrets are never exported."""

from __future__ import annotations

from typing import Any

from crm.connection_settings import connection_settings_export
from studios.models import Membership, Organization, PhoneNumber, ProviderAccount, Studio
from studios.provider_kinds import KIND_FIELDS


def _account(account: ProviderAccount) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": account.name, "kind": account.kind}
    if account.is_default:
        entry["default"] = True
    for name in ("account_sid", "client_id", "api_base_url", "accounts_url", "api_domain"):
        if name in KIND_FIELDS[account.kind] and getattr(account, name):
            entry[name] = getattr(account, name)
    entry.update(connection_settings_export(account))
    return entry


def _studio(studio: Studio, own_accounts: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "slug": studio.slug,
        "name": studio.name,
        "time_zone": studio.time_zone,
        "welcome_message": studio.welcome_message,
        "help_message": studio.help_message,
    }
    if not studio.is_active:
        entry["is_active"] = False
    if own_accounts:
        entry["accounts"] = sorted(own_accounts)
    return entry


def _number(number: PhoneNumber) -> dict[str, Any]:
    entry: dict[str, Any] = {"number": number.number, "provider": number.provider, "account": number.account.name}
    if number.studio_id:
        entry["studio"] = number.studio.slug
    shared = sorted(s.slug for s in number.shared_with.all())
    if shared:
        entry["studios"] = shared
    if number.label:
        entry["label"] = number.label
    if not number.is_active:
        entry["is_active"] = False
    return entry


def _member(membership: Membership) -> dict[str, Any]:
    entry: dict[str, Any] = {"email": membership.user.email, "role": membership.role}
    if membership.user.full_name:
        entry["name"] = membership.user.full_name
    if not membership.is_manager:
        entry["studios"] = sorted(s.slug for s in membership.studios.all())
    crm_user_ids = {link.connection.name: link.crm_user_id for link in membership.crm_users.all()}
    if crm_user_ids:
        entry["crm_user_ids"] = dict(sorted(crm_user_ids.items()))
    if not membership.is_active:
        entry["is_active"] = False
    return entry


def tenants_export(*, organization_slugs: list[str] | None = None) -> dict[str, Any]:
    """The organizations (all, or those named) as a tenants document, ready for `tenants apply`."""
    organizations = Organization.objects.unscoped().order_by("slug")  # operators' tool: every tenant
    if organization_slugs:
        organizations = organizations.filter(slug__in=organization_slugs)
    document: dict[str, Any] = {"organizations": []}
    for org in organizations:
        accounts = list(ProviderAccount.objects.for_organization(org).order_by("kind", "name"))
        studios = list(
            Studio.objects.for_organization(org).order_by("slug").prefetch_related("studio_accounts__account")
        )
        numbers = (
            PhoneNumber.objects.for_organization(org)
            .select_related("account", "studio")
            .prefetch_related("shared_with")
            .order_by("number", "provider")
        )
        members = (
            Membership.objects.for_organization(org)
            .select_related("user")
            .prefetch_related("studios", "crm_users__connection")
            .order_by("user__email")
        )
        entry: dict[str, Any] = {"slug": org.slug, "name": org.name}
        if not org.is_active:
            entry["is_active"] = False
        entry["accounts"] = [_account(a) for a in accounts]
        entry["studios"] = [_studio(s, [sa.account.name for sa in s.studio_accounts.all()]) for s in studios]
        entry["numbers"] = [_number(n) for n in numbers]
        entry["members"] = [_member(m) for m in members]
        document["organizations"].append(entry)
    return document


__all__ = ["tenants_export"]
