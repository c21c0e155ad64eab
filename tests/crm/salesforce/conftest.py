"""Fixtures for the Salesforce tests: an emulated org on the sandbox (served over real HTTP), a ProviderAccount of
kind salesforce pointing at it, the provider bound to it, and a clean cache (tokens, budgets, describes)."""

from __future__ import annotations

from typing import Any

import pytest

from django.core.cache import cache

from crm.registry import provider_for
from tests.crm.harness import SleepRecorder
from tests.crm.harness_salesforce import SalesforceOrg, account_for, control, org_create
from tests.factories import OrganizationFactory


@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Token, lock, budget and describe keys never leak from one test into the next (REDIS_URL is ours alone)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="summit", name="Summit Fitness Co.")


@pytest.fixture
def sf(empty_sandbox) -> SalesforceOrg:
    """A new emulated Salesforce org on the sandbox."""
    return SalesforceOrg(empty_sandbox, org_create(empty_sandbox))


@pytest.fixture
def sf_account(organization, empty_sandbox, sf):
    return account_for(organization, empty_sandbox, sf.org)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def provider(sf_account, sleeps):
    return provider_for(sf_account, sleep=sleeps)


def sandbox_config(server: Any, **values: Any) -> None:
    """Change the sandbox's run-time knobs (sf_query_batch_size, sf_uri_max_bytes, ...)."""
    control(server, "PATCH", "config", values)
