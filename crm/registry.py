"""Which provider serves which CRM: `@register("<kind>")` on a CrmProvider class, `provider_for(connection)`.

Providers live in `crm/providers/<kind>/provider.py` and register on import; `autodiscover()` (run by the app's
ready()) imports every such module, so adding a CRM needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from crm.errors import CrmError
from crm.provider import CrmProvider
from studios.provider_kinds import crm_user_id_cleaner_register

P = TypeVar("P", bound=type[CrmProvider])

_PROVIDERS: dict[str, type[CrmProvider]] = {}
_CONNECTION_KINDS: dict[str, str] = {}


class UnknownCrm(CrmError, LookupError):
    """No provider is registered for that kind of CRM or connection."""


def register(kind: str) -> Callable[[P], P]:
    """Class decorator: the provider for CRMs of `kind` (also for its `connection_kinds`)."""
    if not kind or not kind.isidentifier() or kind != kind.lower():
        raise ValueError(f"a CRM kind is a lower-case identifier, not {kind!r}")

    def decorate(cls: P) -> P:
        if not (isinstance(cls, type) and issubclass(cls, CrmProvider)):
            raise TypeError(f"@register({kind!r}) needs a CrmProvider subclass, got {cls!r}")
        existing = _PROVIDERS.get(kind)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(f"CRM kind {kind!r} is already registered by {existing.__module__}.{existing.__name__}")
        for alias in cls.connection_kinds:
            owner = _CONNECTION_KINDS.get(alias)
            if owner is not None and owner != kind:
                raise ValueError(f"connection kind {alias!r} is already served by CRM kind {owner!r}")
        cls.kind = kind
        _PROVIDERS[kind] = cls
        for alias in cls.connection_kinds:
            _CONNECTION_KINDS[alias] = kind
        # studios stores members' CRM user ids below this layer: it learns each kind's form from here.
        for connection_kind in (kind, *cls.connection_kinds):
            crm_user_id_cleaner_register(connection_kind, cls.crm_user_id_clean)
        return cls

    return decorate


def registered() -> list[str]:
    """The registered CRM kinds, sorted."""
    return sorted(_PROVIDERS)


def connection_kinds() -> list[str]:
    """Every connection kind a registered provider serves (its own kind and its `connection_kinds`), sorted."""
    return sorted(set(_PROVIDERS) | set(_CONNECTION_KINDS))


def provider_class(kind: str) -> type[CrmProvider]:
    """The provider class of a CRM kind (or of a connection kind it serves); UnknownCrm otherwise."""
    name = _CONNECTION_KINDS.get(kind, kind)
    try:
        return _PROVIDERS[name]
    except KeyError:
        known = ", ".join(registered()) or "none"
        raise UnknownCrm(f"no CRM provider for {kind!r} (registered: {known})", code="UNKNOWN_CRM") from None


def provider_for(connection: Any, **options: Any) -> CrmProvider:
    """The provider bound to a connection, chosen by its `kind`: a CRM kind, or a connection kind a provider lists
    in `connection_kinds` (today's connections are ProviderAccounts). `options` go to the provider (e.g. `sleep`
    for tests, a priority)."""
    kind = getattr(connection, "kind", None)
    if not kind:
        raise UnknownCrm(f"{connection!r} has no kind to choose a CRM provider by", code="UNKNOWN_CRM")
    return provider_class(str(kind))(connection, **options)


def autodiscover() -> None:
    """Import `crm.providers.<name>.provider` for every provider package, which registers it."""
    import crm.providers

    for module in pkgutil.iter_modules(crm.providers.__path__):
        if module.ispkg:
            importlib.import_module(f"crm.providers.{module.name}.provider")
