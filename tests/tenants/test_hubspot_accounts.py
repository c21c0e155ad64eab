"""`kind: hubspot` in the tenants file: the account (HubSpot's hosts by default), its connection's settings (which
contacts count as leads, how texts show on the timeline), members' HubSpot owner ids, the export applying back
unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from crm.providers.hubspot.models import DEFAULT_LEAD_LIFECYCLE_STAGES, HubSpotConnection
from studios.models import Membership
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tests.tenants.test_tenants_file import account, assert_all_unchanged, assert_refused

pytestmark = pytest.mark.django_db

FILE = """\
organizations:
  - slug: crest
    name: Crest Fitness
    accounts:
      - {name: crest-hubspot, kind: hubspot, default: true, client_id: "crest-app-client-id",
         client_secret: "env:CREST_HS_SECRET", refresh_token: "env:CREST_HS_REFRESH",
         lead_lifecycle_stages: "lead, marketingqualifiedlead", timeline_activity: note}
    studios:
      - {slug: north, name: North}
    members:
      - {email: pat@crest.test, role: manager, crm_user_ids: {crest-hubspot: 83924710}}
      - {email: sam@crest.test, role: staff, studios: [north], crm_user_ids: {crest-hubspot: "83924711"}}
"""
ENV = {"CREST_HS_SECRET": "plain-hs-secret-0001", "CREST_HS_REFRESH": "plain-hs-refresh-0002"}


def document() -> dict[str, Any]:
    return yaml.safe_load(FILE)


def hubspot_entry(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["organizations"][0]["accounts"][0]


def connection() -> HubSpotConnection:
    return HubSpotConnection.unscoped_objects.get(account=account("crest-hubspot"))


def ids_of(email: str) -> dict[str, str]:
    membership = Membership.objects.unscoped().get(user__email=email)
    return {link.connection.name: link.crm_user_id for link in membership.crm_users.select_related("connection")}


def test_a_hubspot_account_its_connection_settings_and_members_owner_ids():
    report = tenants_apply(raw=document(), environ=ENV)

    hubspot = account("crest-hubspot")
    assert hubspot.kind == "hubspot"
    assert hubspot.is_crm_connection
    assert hubspot.accounts_url == "https://app.hubspot.com"  # HubSpot's own hosts by default
    assert hubspot.api_domain == "https://api.hubapi.com"
    assert hubspot.custom_endpoints is False
    assert hubspot.client_secret.reveal() == ENV["CREST_HS_SECRET"]
    assert hubspot.refresh_token.reveal() == ENV["CREST_HS_REFRESH"]
    # The connection row exists (as connecting would make it) with the file's settings, stages as written.
    assert connection().lead_lifecycle_stages == "lead, marketingqualifiedlead"
    assert connection().lead_stages() == ("lead", "marketingqualifiedlead")
    assert connection().timeline_activity == HubSpotConnection.TimelineActivity.NOTE
    assert connection().organization == hubspot.organization
    assert report.created["accounts"] == 1
    # Members are known by their owner id (digits; an unquoted one is taken as written).
    assert ids_of("pat@crest.test") == {"crest-hubspot": "83924710"}
    assert ids_of("sam@crest.test") == {"crest-hubspot": "83924711"}


def test_applying_again_changes_nothing_and_a_changed_setting_is_an_update():
    tenants_apply(raw=document(), environ=ENV)
    assert_all_unchanged(tenants_apply(raw=document(), environ=ENV))

    raw = document()
    hubspot_entry(raw)["timeline_activity"] = "task"
    report = tenants_apply(raw=raw, environ=ENV)
    assert report.updated["accounts"] == 1
    assert connection().timeline_activity == "task"
    assert connection().lead_lifecycle_stages == "lead, marketingqualifiedlead"  # untouched


def test_omitted_settings_keep_the_connections_own():
    raw = document()
    del hubspot_entry(raw)["lead_lifecycle_stages"]
    del hubspot_entry(raw)["timeline_activity"]
    tenants_apply(raw=raw, environ=ENV)
    # No settings given: no connection row is made by the file (connecting makes it), and defaults apply then.
    assert not HubSpotConnection.unscoped_objects.filter(account=account("crest-hubspot")).exists()

    tenants_apply(raw=document(), environ=ENV)
    HubSpotConnection.unscoped_objects.filter(pk=connection().pk).update(lead_lifecycle_stages="lead")
    assert_all_unchanged(tenants_apply(raw=raw, environ=ENV))
    assert connection().lead_lifecycle_stages == "lead"


def test_an_empty_stage_list_means_every_new_contact():
    raw = document()
    hubspot_entry(raw)["lead_lifecycle_stages"] = ""
    tenants_apply(raw=raw, environ=ENV)
    assert connection().lead_lifecycle_stages == ""
    assert connection().lead_stages() == ()


def test_the_export_applies_back_unchanged():
    tenants_apply(raw=document(), environ=ENV)
    exported = tenants_export()
    entry = exported["organizations"][0]["accounts"][0]
    assert entry["kind"] == "hubspot"
    assert entry["lead_lifecycle_stages"] == "lead, marketingqualifiedlead"
    assert entry["timeline_activity"] == "note"
    assert "client_secret" not in entry
    assert "refresh_token" not in entry
    assert exported["organizations"][0]["members"][0]["crm_user_ids"] == {"crest-hubspot": "83924710"}
    assert_all_unchanged(tenants_apply(raw=exported, environ={}))


def test_an_account_without_a_connection_exports_no_settings():
    raw = document()
    del hubspot_entry(raw)["lead_lifecycle_stages"]
    del hubspot_entry(raw)["timeline_activity"]
    tenants_apply(raw=raw, environ=ENV)
    entry = tenants_export()["organizations"][0]["accounts"][0]
    assert "lead_lifecycle_stages" not in entry
    assert "timeline_activity" not in entry
    assert DEFAULT_LEAD_LIFECYCLE_STAGES.startswith("subscriber,lead")


def test_an_unknown_timeline_activity_is_refused():
    raw = document()
    hubspot_entry(raw)["timeline_activity"] = "email"
    assert_refused(raw, "timeline_activity", environ=ENV)


def test_hubspot_settings_on_another_kind_are_refused_naming_the_field():
    raw = document()
    raw["organizations"][0]["accounts"].append(
        {"name": "crest-twilio", "kind": "twilio", "account_sid": "AC1", "lead_lifecycle_stages": "lead"}
    )
    assert_refused(raw, "lead_lifecycle_stages is a setting of hubspot accounts, not of kind twilio", environ=ENV)


def test_a_value_that_is_no_owner_id_is_refused():
    raw = document()
    raw["organizations"][0]["members"][1]["crm_user_ids"] = {"crest-hubspot": "sam@crest.test"}
    assert_refused(raw, "is not a HubSpot owner id", environ=ENV)


def test_an_emulator_host_is_an_operators():
    raw = document()
    hubspot_entry(raw)["accounts_url"] = "https://hs-emulator.example"
    hubspot_entry(raw)["api_domain"] = "https://hs-emulator.example"
    tenants_apply(raw=raw, environ=ENV)
    assert account("crest-hubspot").custom_endpoints is True


def test_a_stage_label_is_refused_naming_the_field():
    raw = document()
    hubspot_entry(raw)["lead_lifecycle_stages"] = "Lead, Sales Qualified Lead"
    assert_refused(
        raw, "lead_lifecycle_stages: 'Sales Qualified Lead' is not a lifecycle stage's internal value", environ=ENV
    )
