"""core/api.py, the base of every API view, sits in core: it imports no app above core (the widget token's class
is named and imported on first use), and every view still authenticates by bearer token first, then session."""

from __future__ import annotations

import ast
from pathlib import Path

from core import api
from core.api import SessionAuthentication, TenantApi
from identity.authentication import WidgetTokenAuthentication

APPS_ABOVE_CORE = {"identity", "studios", "crm", "messaging", "automation", "sync", "widget"}


def test_core_api_imports_no_app_above_core():
    tree = ast.parse(Path(api.__file__).read_text())
    # Names imported for type hints only (`if TYPE_CHECKING:`) are never imported at run time.
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    nodes = [node for node in ast.walk(tree) if id(node) not in typing_only]
    imported = {alias.name for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} & APPS_ABOVE_CORE == set()


def test_every_api_view_takes_the_bearer_token_first_then_the_session():
    class ProbeApi(TenantApi, abstract=True):
        pass

    authenticators = ProbeApi().get_authenticators()
    assert [type(a) for a in authenticators] == [WidgetTokenAuthentication, SessionAuthentication]
