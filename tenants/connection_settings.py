"""A CRM connection's settings in the tenants file, on its account's entry (schema.CONNECTION_SETTINGS says which
kinds have which): HubSpot's lead lifecycle stages and timeline activity. Applied to the account's connection row
(created on first use, as connecting would); exported from it when it exists."""

from __future__ import annotations

from typing import Any

from django.db import models

from studios.models import ProviderAccount, ProviderKind
from tenants.schema import CONNECTION_SETTINGS, AccountEntry


def _connection(account: ProviderAccount, *, create: bool) -> models.Model | None:
    """The account's connection row of its kind (None when it has no settings, or none exists and `create` is
    off)."""
    if account.kind == ProviderKind.HUBSPOT:
        from crm.providers.hubspot.models import HubSpotConnection
        from crm.providers.hubspot.services import connection_for_account

        if create:
            return connection_for_account(account=account)
        return HubSpotConnection.unscoped_objects.filter(account=account).first()
    return None


def connection_settings_wanted(entry: AccountEntry) -> dict[str, Any]:
    """The settings the entry gives (an omitted one keeps what the connection has)."""
    return {
        name: getattr(entry, name).strip() if isinstance(getattr(entry, name), str) else getattr(entry, name)
        for name in CONNECTION_SETTINGS.get(entry.kind, ())
        if getattr(entry, name) is not None
    }


def connection_settings_apply(account: ProviderAccount, values: dict[str, Any]) -> bool:
    """Set the connection's settings that differ; True if any did. Raises django's ValidationError (by field)."""
    if not values:
        return False
    connection = _connection(account, create=True)
    if connection is None:
        return False
    changed = {name: value for name, value in values.items() if getattr(connection, name) != value}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(connection, name, value)
    connection.full_clean(exclude=[field.name for field in connection._meta.fields if field.name not in changed])
    connection.save(update_fields=[*changed, "updated_at"])
    return True


def connection_settings_export(account: ProviderAccount) -> dict[str, Any]:
    """The account's connection settings for an exported entry ({} when it has none yet)."""
    names = CONNECTION_SETTINGS.get(account.kind, ())
    connection = _connection(account, create=False) if names else None
    return {name: getattr(connection, name) for name in names} if connection is not None else {}
