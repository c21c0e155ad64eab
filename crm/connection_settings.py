"""Settings of a CRM connection that operators give outside the connect flow (the tenants file, on the account's
entry): fields of the provider's connection row, such as which records count as leads. Each CRM's package declares
its own (its app's ready() calls `connection_settings_register`), so the code that applies and exports them names
no CRM. Values are text, checked by the connection model's own validation when applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm.connection_state import CrmConnection, connection_for_account
from studios.models import ProviderAccount


@dataclass(frozen=True)
class ConnectionSettings:
    model: type[CrmConnection]  # the provider's connection row (one per account)
    names: tuple[str, ...]  # its fields an operator may set


_SETTINGS: dict[str, ConnectionSettings] = {}


def connection_settings_register(kind: str, *, model: type[CrmConnection], names: tuple[str, ...]) -> None:
    """Accounts of `kind` may carry these fields of their `model` row (registering again replaces them)."""
    unknown = [name for name in names if name not in {field.name for field in model._meta.fields}]
    if unknown:
        raise ValueError(f"{model.__name__} has no field {unknown[0]!r}")
    _SETTINGS[kind] = ConnectionSettings(model=model, names=tuple(names))


def connection_settings_names(kind: str) -> tuple[str, ...]:
    """The settings accounts of `kind` may carry (none for a kind that declared none)."""
    settings = _SETTINGS.get(kind)
    return settings.names if settings else ()


def connection_settings_kinds(name: str) -> list[str]:
    """The kinds whose accounts carry a setting called `name`, sorted (empty: no CRM has one)."""
    return sorted(kind for kind, settings in _SETTINGS.items() if name in settings.names)


def connection_settings_apply(account: ProviderAccount, values: Mapping[str, Any]) -> bool:
    """Set the values that differ on the account's connection row (created on first use, as connecting would);
    True if any did. Raises django's ValidationError (by field) for a value the model refuses."""
    settings = _SETTINGS.get(account.kind)
    if settings is None or not values:
        return False
    unknown = [name for name in values if name not in settings.names]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a setting of {account.kind} connections")
    connection = connection_for_account(settings.model, account=account)
    changed = {name: value for name, value in values.items() if getattr(connection, name) != value}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(connection, name, value)
    connection.full_clean(exclude=[field.name for field in connection._meta.fields if field.name not in changed])
    connection.save(update_fields=[*changed, "updated_at"])
    return True


def connection_settings_export(account: ProviderAccount) -> dict[str, Any]:
    """The account's settings as its connection row holds them ({} when its kind has none or no row exists yet)."""
    settings = _SETTINGS.get(account.kind)
    if settings is None:
        return {}
    connection = settings.model.unscoped_objects.filter(account=account).first()
    return {name: getattr(connection, name) for name in settings.names} if connection is not None else {}
