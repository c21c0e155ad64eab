"""Connection settings operators give from the tenants file: declared per kind by the CRM's package, applied to and
exported from its connection row; a kind that declared none has none."""

from __future__ import annotations

import pytest

from crm import connection_settings
from crm.connection_settings import (
    connection_settings_apply,
    connection_settings_export,
    connection_settings_kinds,
    connection_settings_names,
    connection_settings_register,
)
from crm.providers.hubspot.models import HubSpotConnection
from tests.factories import TwilioAccountFactory


@pytest.fixture
def clean_settings(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(connection_settings, "_SETTINGS", dict(connection_settings._SETTINGS))


def test_the_hubspot_package_declares_its_settings():
    assert connection_settings_names("hubspot") == ("lead_lifecycle_stages", "timeline_activity")
    assert connection_settings_kinds("timeline_activity") == ["dynamics", "hubspot"]
    assert connection_settings_names("twilio") == ()
    assert connection_settings_kinds("no_such_setting") == []


def test_the_dynamics_package_declares_its_settings():
    assert connection_settings_names("dynamics") == (
        "environment_url",
        "timeline_activity",
        "custom_activity_table",
        "opt_out_column",
    )
    assert connection_settings_kinds("opt_out_column") == ["dynamics"]


def test_a_field_the_connection_model_lacks_is_refused(clean_settings):
    with pytest.raises(ValueError, match="HubSpotConnection has no field 'stages'"):
        connection_settings_register("hubspot", model=HubSpotConnection, names=("stages",))
    assert connection_settings_names("hubspot") == ("lead_lifecycle_stages", "timeline_activity")


@pytest.mark.django_db
def test_a_kind_without_settings_applies_and_exports_nothing():
    account = TwilioAccountFactory()
    assert connection_settings_apply(account, {"timeline_activity": "note"}) is False
    assert connection_settings_export(account) == {}
