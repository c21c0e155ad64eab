"""Every route of the Salesforce emulator, for sandbox/app.py: the login host (oauth.py), the data API under
`/services/data/vXX.X/` and the control API under `/_sandbox/salesforce/`.

Each module lists its own `ROUTES` (data and login routes) and `CONTROL_ROUTES` (under /_sandbox/salesforce/).
A data route is written `/services/data/v<version>/...` and its handler wears `calls.sf_endpoint`. Werkzeug ranks
static parts above variables, so `sobjects/<X>/describe` wins over `sobjects/<X>/<id>` whatever the order.
"""

from __future__ import annotations

from typing import Any

from sandbox.salesforce import (
    bulk2,
    changes,
    composite,
    control,
    oauth,
    query,
    resources,
    search,
    sobjects,
)

MODULES = (oauth, resources, sobjects, composite, query, changes, search, bulk2, control)


def routes() -> list[tuple[str, list[str], Any]]:
    found: list[tuple[str, list[str], Any]] = []
    for module in MODULES:
        found += getattr(module, "ROUTES", [])
        found += getattr(module, "CONTROL_ROUTES", [])
    return found
