"""Which SMS providers exist, found by looking: every module or package in messaging/providers/ (but `base` and
`registry`) is one, and declares itself with `SMS_PROVIDER = SmsProviderInfo(...)` at its top level.

Messaging reads the declarations and never names a vendor: the stored values and labels of Message.provider
(`choices`), the class that sends (`provider_class`), which providers' texts wait for a polled log id
(`log_polling_providers`), and the optional parts a provider package brings: its own models (`<package>/models.py`,
still models of the messaging app), its Celery tasks (`<package>/tasks.py`) and a poll run by hand (`poll`).
Adding a provider needs no edit here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.module_loading import import_string

NOT_PROVIDERS = frozenset({"base", "registry"})


@dataclass(frozen=True)
class SmsProviderInfo:
    """What messaging needs to know of a provider before using it. Dotted paths keep the declaration cheap to read
    (the models module reads it while Django loads models): the provider's code is imported when first used."""

    name: str  # stored in Message.provider and PhoneNumber.provider: never change it
    label: str
    provider: str  # dotted path of its SmsProvider class, built with `account=` (a studios.ProviderAccount)
    # Its texts are matched later to the logs a poll reads (Message.provider_log_id): the partial index
    # message_awaiting_provider_log covers its rows that wait for one.
    polls_logs: bool = False
    # Dotted path of `poll(phone_number_id) -> dict`: read one number's inbound texts and statuses now (`manage.py
    # messaging poll-voice`), for a provider that sends no webhooks.
    poll: str = ""


def _provider_modules() -> list[tuple[str, bool]]:
    import messaging.providers

    return [
        (f"messaging.providers.{module.name}", module.ispkg)
        for module in sorted(pkgutil.iter_modules(messaging.providers.__path__), key=lambda module: module.name)
        if module.name not in NOT_PROVIDERS
    ]


@functools.cache
def providers() -> dict[str, SmsProviderInfo]:
    """Every SMS provider, by name."""
    found: dict[str, SmsProviderInfo] = {}
    for module_name, _ in _provider_modules():
        info = getattr(importlib.import_module(module_name), "SMS_PROVIDER", None)
        if not isinstance(info, SmsProviderInfo):
            raise TypeError(f"{module_name} is in messaging/providers/ but declares no SMS_PROVIDER = SmsProviderInfo")
        if info.name in found:
            raise ValueError(f"two SMS providers are named {info.name!r}")
        found[info.name] = info
    return found


def provider_info(name: str) -> SmsProviderInfo:
    try:
        return providers()[name]
    except KeyError:
        raise ValueError(f"no SMS provider {name!r}") from None


def choices() -> list[tuple[str, str]]:
    """(value, label) of every provider: the choices of the columns that store a provider's name."""
    return [(info.name, info.label) for info in providers().values()]


def log_polling_providers() -> list[str]:
    return [info.name for info in providers().values() if info.polls_logs]


def provider_class(name: str) -> type:
    return import_string(provider_info(name).provider)


def poll(name: str) -> Callable[[int], dict] | None:
    """The provider's poll of one number, or None when its inbound texts come by webhook."""
    info = provider_info(name)
    return import_string(info.poll) if info.poll else None


def _submodules_import(submodule: str) -> None:
    for module_name, is_package in _provider_modules():
        if is_package and importlib.util.find_spec(f"{module_name}.{submodule}") is not None:
            importlib.import_module(f"{module_name}.{submodule}")


def models_import() -> None:
    """Import each provider package's models (messaging/models.py does, so Django registers them in messaging)."""
    _submodules_import("models")


def tasks_import() -> None:
    """Import each provider package's Celery tasks (messaging/tasks.py does, so workers register them)."""
    _submodules_import("tasks")
