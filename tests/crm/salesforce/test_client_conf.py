"""The Salesforce client's settings (crm/providers/salesforce/conf.py): a Django setting wins, then the environment
variable, then the default; timeouts are (connect, read)."""

from __future__ import annotations

import pytest

from crm.providers.salesforce.conf import SalesforceSettings, salesforce_settings


def test_defaults(monkeypatch):
    for name in ("API_VERSION", "CLIENT_NAME", "TIMEOUT", "BACKGROUND_SHARE", "URI_MAX_BYTES"):
        monkeypatch.delenv(f"SALESFORCE_{name}", raising=False)
    fresh = SalesforceSettings()
    assert fresh.API_VERSION == "66.0"
    assert fresh.CLIENT_NAME == "leadline"
    assert fresh.TIMEOUT == (5.0, 30.0)
    assert fresh.BACKGROUND_SHARE == 0.8
    assert fresh.URI_MAX_BYTES < 16_384


def test_environment_variables_are_parsed_by_type(monkeypatch):
    monkeypatch.setenv("SALESFORCE_TIMEOUT", "3, 20")
    monkeypatch.setenv("SALESFORCE_TOKEN_TIMEOUT", "4")
    monkeypatch.setenv("SALESFORCE_BACKGROUND_SHARE", "0.5")
    monkeypatch.setenv("SALESFORCE_RETRY_ATTEMPTS", "2")
    fresh = SalesforceSettings()
    assert fresh.TIMEOUT == (3.0, 20.0)
    assert fresh.TOKEN_TIMEOUT == (4.0, 4.0)
    assert fresh.BACKGROUND_SHARE == 0.5
    assert fresh.RETRY_ATTEMPTS == 2


def test_a_django_setting_wins_and_is_seen_at_once(settings, monkeypatch):
    monkeypatch.setenv("SALESFORCE_CLIENT_NAME", "from-env")
    settings.SALESFORCE_CLIENT_NAME = "from-settings"
    assert salesforce_settings.CLIENT_NAME == "from-settings"
    settings.SALESFORCE_TIMEOUT = [2, 9]
    assert salesforce_settings.TIMEOUT == (2.0, 9.0)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no Salesforce setting"):
        getattr(salesforce_settings, "NOT_A_SETTING")  # noqa: B009
