"""Fixtures for the mirror tests: an organization whose Zoho CRM account points at an empty sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from django.core.cache import cache

from tests.crm.zoho.conftest import control, crm_account
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _clean_cache(db, settings):
    """Tokens are cached per refresh token, and every test's sandbox mints its own: start clean."""
    settings.ZOHO_RETRY_BASE_SECONDS = 0.01
    settings.SYNC_BATCH_SIZE = 500
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="demo-fit", name="Demo Fit")


@pytest.fixture
def account(organization, empty_sandbox):
    return crm_account(organization, empty_sandbox, is_default=True)


def seed(server: Any, count: int, module: str = "Leads") -> None:
    control(server, "POST", "zoho/seed", {"module": module, "count": count, "seed": 7})


def store(server: Any, module: str = "Leads") -> dict[str, dict[str, Any]]:
    """The sandbox's records of a module, by id (in-process, so exactly what Zoho holds)."""
    org = next(iter(server.state.crm.orgs.values()))
    return org.modules[module].records
