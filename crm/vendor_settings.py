"""The settings lookup every CRM package's conf.py shares, in the way DRF owns `api_settings`: `<crm>_settings.NAME`
is the Django setting `<PREFIX>_NAME` if the project (or a test) sets one, else the environment variable of the
same name (parsed once per process), else the package's default. Each package declares its own names, parsers and
defaults; this module holds only how they are read.

Read at each use, never copied at import: a test's `settings.<PREFIX>_...` override is seen at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

# How a declared name's environment value is parsed: the name of an `environ.Env` method ("str", "int", "float",
# "list", "bool"...) or TIMEOUT, which keeps the raw text for `seconds_pair`.
TIMEOUT = "timeout"


def seconds_pair(value: Any) -> tuple[float, float]:
    """(connect, read) seconds: one number is both; "5,30", a list or a tuple give each."""
    if isinstance(value, int | float):
        value = [value]
    elif isinstance(value, str):
        value = value.replace(" ", "").split(",")
    numbers = [float(part) for part in value if part != ""]
    return (numbers[0], numbers[-1])


def demo_when_debug(demo: str, production: str) -> Callable[[], str]:
    """A default that depends on DEBUG (the sandbox's demo values in development)."""
    return lambda: demo if settings.DEBUG else production


class VendorSettings:
    """`<crm>_settings.<NAME>`: the Django setting <PREFIX>_<NAME>, else the environment variable, else the default.

    A package subclasses it with `prefix` ("ACME"), `label` (for the error of an unknown name), `declared` (name ->
    (parser, default or a function giving it)) and `env` (an `environ.Env`, which parses the environment values)."""

    prefix: str
    label: str
    declared: Mapping[str, tuple[str, Any]]
    env: Any

    def __init__(self) -> None:
        self._parsed_env: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never a setting: copy and pickle probe these before __init__ has run
            raise AttributeError(name)
        try:
            kind, default = self.declared[name]
        except KeyError:
            raise AttributeError(f"no {self.label} setting {name!r}") from None
        value = self._raw(f"{self.prefix}_{name}", kind, default)
        if kind == TIMEOUT:
            return seconds_pair(value)
        return list(value) if isinstance(value, list) else value  # a caller's edit never changes the default

    def _raw(self, env_name: str, kind: str, default: Any) -> Any:
        if hasattr(settings, env_name):
            return getattr(settings, env_name)
        if env_name not in os.environ:
            return default() if callable(default) else default
        if env_name not in self._parsed_env:
            raw = os.environ[env_name]
            self._parsed_env[env_name] = raw if kind == TIMEOUT else getattr(self.env, kind)(env_name)
        return self._parsed_env[env_name]
