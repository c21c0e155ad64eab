"""The contract suite runs once per registered CRM provider, each against its emulator over real HTTP: the
`harness` fixture finds `tests/crm/harness_<kind>.py` and serves the sandbox fixture that harness names."""

from __future__ import annotations

import importlib

import pytest

from django.core.cache import cache

from crm.registry import registered
from tests.crm.harness import ContractHarness
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Tokens, locks and budgets cached by one test's provider never reach the next (a new emulator each test)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(params=registered())
def harness(request, db) -> ContractHarness:
    kind = request.param
    try:
        module = importlib.import_module(f"tests.crm.harness_{kind}")
    except ModuleNotFoundError:
        pytest.fail(f"the CRM provider {kind!r} is registered but has no tests/crm/harness_{kind}.py (docs/crm.md)")
    server = request.getfixturevalue(module.Harness.sandbox_fixture)
    return module.Harness(server=server, organization=OrganizationFactory(slug=f"contract-{kind}"))
