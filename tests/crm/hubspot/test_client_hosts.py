"""Where a HubSpot account's calls go: HubSpot's own hosts, an emulator an operator set (under its /hubspot path),
the configured API URL with its path, a foreign host refused; the path families."""

from __future__ import annotations

import pytest

from crm.providers.hubspot import hosts
from crm.providers.hubspot.errors import HubSpotAuthError
from studios.models import ProviderAccount


def account(**values) -> ProviderAccount:
    fields = {"name": "peak-hubspot", "kind": "hubspot", "client_id": "c", "custom_endpoints": False}
    return ProviderAccount(**{**fields, **values})


def test_hubspots_own_hosts():
    mine = account(api_domain="https://api.hubapi.com", accounts_url="https://app.hubspot.com")
    assert hosts.api_base(mine) == "https://api.hubapi.com"
    assert hosts.app_base(mine) == "https://app.hubspot.com"


def test_an_operators_emulator_is_called_under_its_hubspot_path():
    mine = account(api_domain="http://127.0.0.1:8100", accounts_url="http://127.0.0.1:8100", custom_endpoints=True)
    assert hosts.api_base(mine) == "http://127.0.0.1:8100/hubspot"
    assert hosts.app_base(mine) == "http://127.0.0.1:8100/hubspot"


def test_the_configured_url_keeps_its_path(settings):
    settings.HUBSPOT_API_URL = "http://127.0.0.1:8100/emulated/hubspot"
    mine = account(api_domain="http://127.0.0.1:8100", custom_endpoints=True)
    assert hosts.api_base(mine) == "http://127.0.0.1:8100/emulated/hubspot"
    assert hosts.api_base(account(api_domain="")) == "http://127.0.0.1:8100/emulated/hubspot"
    assert hosts.api_base() == "http://127.0.0.1:8100/emulated/hubspot"


def test_a_foreign_host_without_an_operator_is_refused():
    with pytest.raises(HubSpotAuthError, match="not one of HubSpot's own hosts"):
        hosts.api_base(account(api_domain="https://api.example.com"))


def test_path_families():
    dated, legacy = hosts.Paths("2026-09"), hosts.Paths("v3")
    assert dated.objects("contacts", "batch", "upsert") == "/crm/objects/2026-09/contacts/batch/upsert"
    assert legacy.objects("contacts", "batch", "upsert") == "/crm/v3/objects/contacts/batch/upsert"
    assert dated.properties("deals") == "/crm/properties/2026-09/deals"
    assert legacy.properties("deals") == "/crm/v3/properties/deals"
    assert dated.associations("tasks", "contacts", "labels") == "/crm/associations/2026-09/tasks/contacts/labels"
    assert legacy.associations("tasks", "contacts", "labels") == "/crm/v4/associations/tasks/contacts/labels"
    assert dated.owners() == "/crm/owners/2026-09/"
    assert legacy.owners("77") == "/crm/v3/owners/77"
    assert hosts.Paths.token_info("t") == "/oauth/v1/access-tokens/t"
