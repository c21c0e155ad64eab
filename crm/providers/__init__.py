"""One package per CRM: `<kind>/provider.py` registers a CrmProvider (crm.registry.autodiscover imports it).

Found by listing this folder, so adding a CRM edits no settings or routes: `installed_apps()` for INSTALLED_APPS (a
package with tables is a Django app), `packages_with_urls()` for the pages a package serves under `/<package>/`.
Nothing here imports Django: settings call it before Django is set up."""

from __future__ import annotations

import pkgutil
from pathlib import Path

HERE = Path(__file__).parent


def packages() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules([str(HERE)]) if module.ispkg)


def installed_apps() -> list[str]:
    """Every CRM package with an AppConfig (`apps.py`), as INSTALLED_APPS names it."""
    return [f"crm.providers.{name}" for name in packages() if (HERE / name / "apps.py").exists()]


def packages_with_urls() -> list[str]:
    return [name for name in packages() if (HERE / name / "urls.py").exists()]
