"""Write the tenancy model back in the tenants file format. Secrets are never exported."""

from __future__ import annotations

from typing import Any

from crm.connection_settings import connection_settings_export
from links.models import LinkField, LinkObject, SyncLink
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


def _link_field(link_field: LinkField) -> dict[str, Any]:
    entry: dict[str, Any] = {"a": link_field.field_a, "b": link_field.field_b}
    if link_field.direction != LinkField.Direction.BOTH:
        entry["direction"] = link_field.direction
    if link_field.conflict != LinkField.Conflict.LATEST:
        entry["conflict"] = link_field.conflict
    if link_field.clears:
        entry["clears"] = True
    values = {
        name: dict(getattr(link_field, f"values_{name}"))
        for name in ("a_to_b", "b_to_a")
        if getattr(link_field, f"values_{name}")
    }
    if values:
        entry["values"] = values
    return entry


def _link_object(link_object: LinkObject) -> dict[str, Any]:
    entry: dict[str, Any] = {"a": link_object.object_a, "b": link_object.object_b}
    if link_object.external_id_a or link_object.external_id_b:
        entry["external_id"] = {"a": link_object.external_id_a, "b": link_object.external_id_b}
    entry["match_by"] = list(link_object.match_by or [])
    if not (link_object.create_a and link_object.create_b):
        entry["create"] = {"a": link_object.create_a, "b": link_object.create_b}
    if link_object.deletes != LinkObject.Deletes.IGNORE:
        entry["deletes"] = link_object.deletes
    if link_object.archive_a or link_object.archive_b:
        entry["archive"] = {"a": dict(link_object.archive_a), "b": dict(link_object.archive_b)}
    entry["fields"] = [_link_field(f) for f in sorted(link_object.fields.all(), key=lambda f: f.pk)]
    return entry


def _link(link: SyncLink, objects: list[LinkObject]) -> dict[str, Any]:
    """A link as configured (its state is not the file's: starting is a manager's act)."""
    entry: dict[str, Any] = {"name": link.name, "a": link.connection_a.name, "b": link.connection_b.name}
    entry["time_zone"] = link.time_zone
    if link.owners:
        entry["owners"] = [{"a": str(o.get("a", "")), "b": str(o.get("b", ""))} for o in link.owners]
    entry["objects"] = [_link_object(o) for o in objects]
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
        links = list(
            SyncLink.objects.for_organization(org).select_related("connection_a", "connection_b").order_by("name")
        )
        if links:
            objects = (
                LinkObject.objects.for_organization(org)
                .filter(link__in=links)
                .prefetch_related("fields")
                .order_by("position", "id")
            )
            by_link: dict[int, list[LinkObject]] = {}
            for link_object in objects:
                by_link.setdefault(link_object.link_id, []).append(link_object)
            entry["links"] = [_link(link, by_link.get(link.pk, [])) for link in links]
        document["organizations"].append(entry)
    return document


__all__ = ["tenants_export"]
