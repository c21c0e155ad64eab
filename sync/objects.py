"""Which objects a connection mirrors, by Leadline's names.

`SYNC_MODULES` (settings) and schedule rows may name objects canonically (lead, the default) or by a CRM's own
names (Leads); the mirror stores canonical names for the canonical objects, the CRM's name for the rest.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from crm.registry import UnknownCrm, provider_class, registered


def object_name(name: str, *, connection: Any = None) -> str:
    """The mirror's name of an object named `name`: canonical when the connection's CRM calls a canonical object
    so, or failing that any registered CRM does (a setting written with one CRM's name for accounts still means the
    account object on a connection to another); else `name` as given (a custom object)."""
    providers = [provider_class(kind) for kind in registered()]
    if connection is not None:
        try:
            own = provider_class(str(connection.kind))
        except UnknownCrm:
            return name
        providers = [own, *(provider for provider in providers if provider is not own)]
    for provider in providers:
        for canonical, vendor_name in provider.object_names.items():
            if name in (vendor_name, str(canonical)):
                return str(canonical)
    return name


def configured_objects(*, connection: Any = None) -> list[str]:
    """SYNC_MODULES by the mirror's names, in their configured order. Two canonical names one CRM serves with the
    same object of its own (a CRM whose leads are contacts) are mirrored once, under the name listed first."""
    names = list(dict.fromkeys(object_name(name, connection=connection) for name in settings.SYNC_MODULES))
    if connection is None:
        return names
    try:
        own = provider_class(str(connection.kind))
    except UnknownCrm:
        return names
    kept: list[str] = []
    seen: set[str] = set()
    for name in names:
        vendor_name = own.object_names.get(name, name)
        if vendor_name in seen:
            continue
        seen.add(vendor_name)
        kept.append(name)
    return kept
