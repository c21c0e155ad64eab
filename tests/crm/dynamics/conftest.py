"""Fixtures for the Dynamics 365 tests: an environment on the sandbox's Dataverse emulator (served over real HTTP, a
fresh empty world per test, Entra ID on its HTTPS listener with the test server's own certificate), a ProviderAccount
of kind dynamics pointing at it with its connected DynamicsConnection, the provider bound to it, and a clean cache
(tokens, limits, request slots, table metadata).

    def test_something(dv, dv_account, provider, sleeps): ...

`dv` is a tests.crm.harness_dynamics.DataverseEnvironment (seed, create, update, delete, backdate, rows as Dataverse
holds them, change tracking switches); `dv_server` the SandboxServer."""

from __future__ import annotations

from typing import Any

import pytest

from django.core.cache import cache

from crm.registry import provider_for
from tests.crm.harness_dynamics import DataverseEnvironment, account_for
from tests.crm.harness_hubspot import SandboxSleep, control
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Tokens, limits, slots and metadata never leak from one test into the next (REDIS_URL is ours alone)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dv_server(tls_sandbox):
    """The sandbox with no CRM records, Entra's login host on its HTTPS listener (msal wants https)."""
    return tls_sandbox


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="peak", name="Peak Performance Gyms")


@pytest.fixture
def dv(dv_server) -> DataverseEnvironment:
    """A new environment ("peakfit": a new tenant, three people, Leadline's app consented, its application user)."""
    return DataverseEnvironment(dv_server, name="peakfit")


@pytest.fixture
def dv_account(organization, dv):
    """The account of kind dynamics, connected to the environment (its DynamicsConnection)."""
    return account_for(organization, dv)


@pytest.fixture
def dv_connection(dv_account):
    return dv_account.dynamics_connection


@pytest.fixture
def sleeps(dv_server) -> SandboxSleep:
    """The client's waits, recorded and passed on the sandbox's clock (nobody waits; Retry-After ends on time)."""
    return SandboxSleep(dv_server)


@pytest.fixture
def provider(dv_account, sleeps):
    return provider_for(dv_account, sleep=sleeps)


def sandbox_config(server: Any, **values: Any) -> None:
    """Change the sandbox's run-time knobs (dv_max_page_size, dv_change_tracking_days, ...)."""
    control(server, "PATCH", "config", values)
