"""The CRM layer stays CRM-agnostic: outside crm/providers/, crm/ names no vendor and imports only core/studios."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import crm

ROOT = Path(crm.__file__).parent
ALLOWED = {"crm", "core", "studios", "django"} | set(sys.stdlib_module_names) | {"__future__"}


def neutral_modules():
    return [path for path in ROOT.rglob("*.py") if "providers" not in path.relative_to(ROOT).parts[:1]]


def test_the_neutral_modules_exist():
    assert {path.name for path in neutral_modules()} >= {"provider.py", "records.py", "errors.py", "registry.py"}


def test_crm_outside_providers_names_no_vendor():
    for path in neutral_modules():
        assert "zoho" not in path.read_text().lower(), path


def test_crm_outside_providers_imports_only_core_and_studios():
    for path in neutral_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"
