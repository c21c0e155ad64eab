"""Every route of the Salesforce emulator, for sandbox/app.py: the login host (oauth.py), the data API under
`/services/data/vXX.X/` and the control API under `/_sandbox/salesforce/`.

Each module lists its own `ROUTES` (and control modules `CONTROL_ROUTES`); the query side (query.py,
changes.py, search.py, bulk2.py) is gathered the same way. A data route is written
`/services/data/v<version>/...` and its handler wears `calls.sf_endpoint`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# The data API's modules, in the order their routes are listed (werkzeug ranks static parts above variables,
# so `sobjects/<X>/describe` wins over `sobjects/<X>/<id>` whatever the order).
DATA_MODULES = ("resources", "sobjects", "composite", "query", "changes", "search", "bulk2")
CONTROL_MODULES = ("control", "query", "changes", "bulk2")


def _module(name: str) -> Any | None:
    qualified = f"sandbox.salesforce.{name}"
    if importlib.util.find_spec(qualified) is None:
        return None
    return importlib.import_module(qualified)


def routes() -> list[tuple[str, list[str], Any]]:
    from sandbox.salesforce import oauth

    found: list[tuple[str, list[str], Any]] = [*oauth.ROUTES]
    for name in DATA_MODULES:
        module = _module(name)
        if module is not None:
            found += getattr(module, "ROUTES", [])
    for name in CONTROL_MODULES:
        module = _module(name)
        if module is not None:
            found += getattr(module, "CONTROL_ROUTES", [])
    return found
