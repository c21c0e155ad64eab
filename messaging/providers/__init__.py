"""SMS providers behind one interface (base.SmsProvider), one module or package each in messaging/providers/, found by
registry.py. Services ask `provider_for`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messaging.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    RecipientOptedOut,
    SendResult,
    SmsProvider,
)

if TYPE_CHECKING:
    from studios.models import PhoneNumber

__all__ = [
    "ProviderAuthError",
    "ProviderError",
    "ProviderOutcomeUnknown",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderUnavailable",
    "RecipientOptedOut",
    "SendResult",
    "SmsProvider",
    "provider_for",
    "vendor_hosts_register",
]


def provider_for(phone_number: PhoneNumber) -> SmsProvider:
    """The provider client for one of our numbers, with the credentials of the account that owns it."""
    from messaging.providers import registry

    return registry.provider_class(phone_number.provider)(account=phone_number.account)


def vendor_hosts_register() -> None:
    """Each SMS provider's own hosts, the only ones a manager may point an account at (core.outbound): the
    `vendor_hosts_register()` of the module that holds its provider class."""
    import importlib

    from messaging.providers import registry

    for info in registry.providers().values():
        module = importlib.import_module(info.provider.rsplit(".", 1)[0])
        register = getattr(module, "vendor_hosts_register", None)
        if register is not None:
            register()
