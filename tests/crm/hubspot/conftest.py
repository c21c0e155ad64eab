"""Fixtures for the HubSpot tests: a portal on the sandbox's HubSpot emulator (served over real HTTP, a fresh empty
world per test) with the demo app installed, a ProviderAccount of kind hubspot pointing at it with its connected
HubSpotConnection, the provider bound to it, and a clean cache (tokens, rate estimates, property definitions).

    def test_something(hs, hs_account, provider, sleeps): ...

`hs` is a tests.crm.harness_hubspot.HubSpotPortal (control API: seed, create, edit, stamp, archive, read);
`hs_install` the install's {refresh_token, access_token, hub_id, user_id, app_id, scopes}."""

from __future__ import annotations

from typing import Any

import pytest

from django.core.cache import cache

from crm.registry import provider_for
from tests.crm.harness_hubspot import HubSpotPortal, SandboxSleep, account_for, control
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Token, lock, budget and property keys never leak from one test into the next (REDIS_URL is ours alone)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="peak", name="Peak Performance Gyms")


@pytest.fixture
def hs(empty_sandbox) -> HubSpotPortal:
    """A new emulated HubSpot portal (three owners, the opt-out property) on the sandbox."""
    return HubSpotPortal(empty_sandbox)


@pytest.fixture
def hs_install(hs) -> dict[str, Any]:
    """The demo app installed in the portal by its first owner (no consent page)."""
    return hs.install()


@pytest.fixture
def hs_account(organization, empty_sandbox, hs, hs_install):
    """The account of kind hubspot, connected to the portal (its HubSpotConnection: hub id, owner id)."""
    return account_for(organization, empty_sandbox, hs, hs_install)


@pytest.fixture
def hs_connection(hs_account):
    return hs_account.hubspot_connection


@pytest.fixture
def sleeps(empty_sandbox) -> SandboxSleep:
    """The client's waits, recorded and passed on the sandbox's clock (its rate windows free; nobody waits)."""
    return SandboxSleep(empty_sandbox)


@pytest.fixture
def provider(hs_account, sleeps):
    return provider_for(hs_account, sleep=sleeps)


def sandbox_config(server: Any, **values: Any) -> None:
    """Change the sandbox's run-time knobs (hs_search_max_results, hs_search_index_lag_seconds, ...)."""
    control(server, "PATCH", "config", values)
