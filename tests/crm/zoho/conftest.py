"""Fixtures for the Zoho tests: ProviderAccounts pointing at the sandbox, a clean cache, sandbox helpers."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from django.core.cache import cache

from sandbox import worlds
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory


@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Token, lock, budget and slot keys never leak from one test into the next (REDIS_URL is ours alone).
    Asks for `db` because without REDIS_URL the cache is the database cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="demo-fit", name="Demo Fit")


def crm_account(organization: Any, server: Any, **overrides: Any):
    values = {
        "organization": organization,
        "name": "demo-zoho",
        "client_id": worlds.DEMO_CLIENT_ID,
        "client_secret": worlds.DEMO_CLIENT_SECRET,
        "refresh_token": worlds.DEMO_CRM_REFRESH_TOKEN,
        "accounts_url": server.url,
        "api_domain": server.url,
    }
    values.update(overrides)
    return ZohoCrmAccountFactory(**values)


@pytest.fixture
def account(organization, sandbox):
    """The demo org's Zoho CRM account, pointing at the sandbox (demo world)."""
    return crm_account(organization, sandbox)


@pytest.fixture
def empty_account(organization, empty_sandbox):
    return crm_account(organization, empty_sandbox)


def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    """Call the sandbox's control API."""
    # 120 s: seeding 120,000 records took over 30 s on a loaded machine.
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=120)
    assert response.status_code < 400, response.text
    return response.json()


def minted(server: Any, refresh_token: str = worlds.DEMO_CRM_REFRESH_TOKEN) -> int:
    """How many access tokens the sandbox ever minted from a refresh token."""
    return sum(1 for token in server.state.accounts.access_tokens.values() if token.refresh_token == refresh_token)


def records_written(server: Any, org_id: str = worlds.DEMO_ZOHO_ORG_ID) -> int:
    """How many records the emulator's API wrote for an org (the kit's `zoho.records_written:<org>` tally)."""
    return int(control(server, "GET", "counters").get(f"zoho.records_written:{org_id}", 0))
