"""The house's layers, held: an app imports only apps below it (docs/architecture.md, Layers), so no import
circle crosses two apps, and no app imports another's private (`_name`) helpers. Imports only for type checking
(`if TYPE_CHECKING:`) are not dependencies at run time and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. An app may import its own modules and those of strictly lower layers.
LAYERS = {
    "core": 0,
    "studios": 1,
    "crm": 2,
    "messaging": 3,
    "identity": 3,
    "automation": 4,
    "sync": 4,
    "links": 5,
    "widget": 5,
    "tenants": 6,
}


def _app_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in LAYERS else None


def _runtime_imports(tree: ast.AST):
    """(line, module, names) of every import not under `if TYPE_CHECKING:`."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            for child in node.body:
                for inner in ast.walk(child):
                    skipped.add(id(inner))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _modules():
    for app in LAYERS:
        folder = ROOT / app
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.py")):
            if "migrations" not in path.parts:
                yield app, path


def _violations():
    upward, private = [], []
    for app, path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module, names in _runtime_imports(tree):
            target = _app_of(module)
            if target is None or target == app:
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if LAYERS[target] >= LAYERS[app]:
                upward.append(where)
            hidden = [name for name in names if name.startswith("_")]
            hidden += [part for part in module.split(".") if part.startswith("_") and part != "__init__"]
            if hidden:
                private.append(f"{where} ({', '.join(hidden)})")
    return upward, private


def test_every_app_imports_only_lower_layers():
    upward, _ = _violations()
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_app_imports_another_apps_private_helpers():
    _, private = _violations()
    assert not private, "private helpers imported across apps:\n" + "\n".join(private)


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_the_layers_name_only_apps_that_exist_or_are_planned(app):
    assert app.isidentifier()
