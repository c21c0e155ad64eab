"""Every route of the Dynamics emulator, for sandbox/app.py: Entra ID under `/entra/`, the Dataverse Web API under
`/dynamics/<environment>/api/data/v9.2/`, and the control API under `/_sandbox/dynamics/`.

Each module lists its own `ROUTES` (API routes) and `CONTROL_ROUTES`; modules are gathered when present, so the
emulator starts while parts are still being written."""

from __future__ import annotations

import importlib
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

MODULES = (
    "sandbox.dynamics.entra",
    "sandbox.dynamics.records",
    "sandbox.dynamics.organization",
    "sandbox.dynamics.metadata",
    "sandbox.dynamics.batch",
    "sandbox.dynamics.queries",
    "sandbox.dynamics.webhooks",
    "sandbox.dynamics.control",
    "sandbox.dynamics.control_tracking",
    "sandbox.dynamics.record_page",
    "sandbox.dynamics.rules",
)


def _modules() -> list[Any]:
    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports does not
                logger.warning("dynamics.module_broken", module=name, error=str(exc))
        except Exception as exc:  # a module half-written must not take the whole sandbox down; say so loudly
            logger.warning("dynamics.module_broken", module=name, error=repr(exc))
    return found


def routes() -> list[tuple[str, list[str], Any]]:
    found: list[tuple[str, list[str], Any]] = []
    for module in _modules():
        found += getattr(module, "ROUTES", [])
        found += getattr(module, "CONTROL_ROUTES", [])
    return found
