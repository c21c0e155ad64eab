"""Every route of the HubSpot emulator, for sandbox/app.py: OAuth (oauth.py), the CRM APIs under `/hubspot/`
(both path families: `/hubspot/crm/v3/...` and `/hubspot/crm/<api>/<YYYY-MM>/...`) and the control API under
`/_sandbox/hubspot/`.

Each module lists its own `ROUTES` (API routes) and `CONTROL_ROUTES`. Search and webhooks are optional here:
their modules are gathered when present (`OPTIONAL`), so the emulator starts before they exist. Werkzeug ranks
static parts above variables, so `objects/<type>/batch/read` and `objects/<type>/search` win over
`objects/<type>/<id>` whatever the order.
"""

from __future__ import annotations

import importlib
from typing import Any

import structlog

from sandbox.hubspot import associations, batch, control, oauth, objects, owners, properties, record_page

logger = structlog.get_logger(__name__)

MODULES = (oauth, objects, batch, properties, owners, associations, record_page, control)
# Modules another part of the emulator adds (search; app webhooks and their controls), imported when present.
OPTIONAL = ("sandbox.hubspot.search", "sandbox.hubspot.webhooks", "sandbox.hubspot.control_webhooks")


def _optional_modules() -> list[Any]:
    found = []
    for name in OPTIONAL:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports does not
                logger.warning("hubspot.optional_module_broken", module=name, error=str(exc))
        except Exception as exc:  # a module half-written must not take the whole sandbox down; say so loudly
            logger.warning("hubspot.optional_module_broken", module=name, error=repr(exc))
    return found


def routes() -> list[tuple[str, list[str], Any]]:
    found: list[tuple[str, list[str], Any]] = []
    for module in (*MODULES, *_optional_modules()):
        found += getattr(module, "ROUTES", [])
        found += getattr(module, "CONTROL_ROUTES", [])
    return found
