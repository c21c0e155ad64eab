"""Zoho's settings (crm/providers/zoho/conf.py): a Django setting wins, then the environment variable, then the
default; read at each use, so a test's override is seen at once."""

from __future__ import annotations

import pytest

from crm.providers.zoho.conf import SETTINGS, ZohoSettings, zoho_settings


def test_the_default_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv("ZOHO_RETRY_ATTEMPTS", raising=False)
    assert ZohoSettings().RETRY_ATTEMPTS == 5


def test_the_environment_variable_is_parsed_by_its_type(monkeypatch):
    monkeypatch.setenv("ZOHO_RETRY_ATTEMPTS", "7")
    monkeypatch.setenv("ZOHO_CRM_SCOPES", "ZohoCRM.org.READ,ZohoCRM.users.READ")
    fresh = ZohoSettings()
    assert fresh.RETRY_ATTEMPTS == 7
    assert fresh.CRM_SCOPES == ["ZohoCRM.org.READ", "ZohoCRM.users.READ"]


def test_a_django_setting_wins_and_is_seen_at_once(settings, monkeypatch):
    monkeypatch.setenv("ZOHO_RETRY_ATTEMPTS", "7")
    settings.ZOHO_RETRY_ATTEMPTS = 2
    assert zoho_settings.RETRY_ATTEMPTS == 2
    settings.ZOHO_RETRY_ATTEMPTS = 3
    assert zoho_settings.RETRY_ATTEMPTS == 3


def test_sign_in_defaults_to_the_sandboxs_demo_client_only_with_debug(settings, monkeypatch):
    for name in ("ZOHO_SIGNIN_CLIENT_ID", "ZOHO_SIGNIN_ACCOUNTS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.DEBUG = True
    assert zoho_settings.SIGNIN_CLIENT_ID == "1000.DEMOCLIENTID"
    assert zoho_settings.SIGNIN_ACCOUNTS_URL == settings.SANDBOX_URL
    settings.DEBUG = False
    assert zoho_settings.SIGNIN_CLIENT_ID == ""
    assert zoho_settings.SIGNIN_ACCOUNTS_URL == "https://accounts.zoho.com"


def test_a_callers_edit_never_changes_a_default(monkeypatch):
    monkeypatch.delenv("ZOHO_VOICE_SCOPES", raising=False)
    ZohoSettings().VOICE_SCOPES.append("ZohoVoice.calls.ALL")
    assert ZohoSettings().VOICE_SCOPES == SETTINGS["VOICE_SCOPES"][1] == ["ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ"]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no Zoho setting"):
        getattr(zoho_settings, "NOT_A_SETTING")  # noqa: B009
