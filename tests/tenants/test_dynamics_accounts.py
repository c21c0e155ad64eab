"""`kind: dynamics` in the tenants file: the account (Entra's login host by default, the environment as its API
domain; no refresh token: consent is the connection's state), its connection's settings (how texts show on the
timeline, the custom activity table, the opt-out column, an emulator's environment URL), members' system user
ids, the export applying back unchanged, and the demo's Dynamics organization."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml

from django.core.management import call_command

from automation.models import AutomationSettings
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_environment
from studios.models import Membership, Organization, PhoneNumber
from tenants import demo
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tests.tenants.test_tenants_file import account, assert_all_unchanged, assert_refused

pytestmark = pytest.mark.django_db

MANAGER_ID = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b01"
STAFF_ID = "3F2A1B0C-9D8E-4F7A-8B6C-5D4E3F2A1B02"  # as an operator might paste it: upper case
FILE = f"""\
organizations:
  - slug: crest
    name: Crest Fitness
    accounts:
      - {{name: crest-dynamics, kind: dynamics, default: true, api_domain: "https://crest.crm4.dynamics.com",
         timeline_activity: custom, custom_activity_table: lh_sms, opt_out_column: lh_smsoptout}}
    studios:
      - {{slug: north, name: North}}
    members:
      - {{email: pat@crest.test, role: manager, crm_user_ids: {{crest-dynamics: "{MANAGER_ID}"}}}}
      - {{email: sam@crest.test, role: staff, studios: [north], crm_user_ids: {{crest-dynamics: "{STAFF_ID}"}}}}
"""


def document() -> dict[str, Any]:
    return yaml.safe_load(FILE)


def dynamics_entry(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["organizations"][0]["accounts"][0]


def connection() -> DynamicsConnection:
    return DynamicsConnection.unscoped_objects.get(account=account("crest-dynamics"))


def ids_of(email: str) -> dict[str, str]:
    membership = Membership.objects.unscoped().get(user__email=email)
    return {link.connection.name: link.crm_user_id for link in membership.crm_users.select_related("connection")}


def test_a_dynamics_account_its_connection_settings_and_members_system_users():
    report = tenants_apply(raw=document(), environ={})

    dynamics = account("crest-dynamics")
    assert dynamics.kind == "dynamics"
    assert dynamics.is_crm_connection
    assert dynamics.accounts_url == "https://login.microsoftonline.com"  # Entra's login host by default
    assert dynamics.api_domain == "https://crest.crm4.dynamics.com"
    assert dynamics.custom_endpoints is False
    assert not dynamics.refresh_token  # client credentials per tenant: nothing to keep
    assert connection().timeline_activity == DynamicsConnection.TimelineActivity.CUSTOM
    assert connection().custom_activity_table == "lh_sms"
    assert connection().activity_table() == "lh_sms"
    assert connection().opt_out_column == "lh_smsoptout"
    assert connection().state == DynamicsConnection.State.NOT_CONNECTED  # an administrator's consent connects it
    assert report.created["accounts"] == 1
    assert ids_of("pat@crest.test") == {"crest-dynamics": MANAGER_ID}
    assert ids_of("sam@crest.test")["crest-dynamics"].lower() == STAFF_ID.lower()


def test_applying_again_changes_nothing_and_a_changed_setting_is_an_update():
    tenants_apply(raw=document(), environ={})
    assert_all_unchanged(tenants_apply(raw=document(), environ={}))

    raw = document()
    dynamics_entry(raw)["timeline_activity"] = "task"
    report = tenants_apply(raw=raw, environ={})
    assert report.updated["accounts"] == 1
    assert connection().timeline_activity == "task"
    assert connection().activity_table() == "task"
    assert connection().custom_activity_table == "lh_sms"  # untouched


def test_the_export_applies_back_unchanged():
    tenants_apply(raw=document(), environ={})
    exported = tenants_export()
    entry = exported["organizations"][0]["accounts"][0]
    assert entry["kind"] == "dynamics"
    assert entry["timeline_activity"] == "custom"
    assert entry["custom_activity_table"] == "lh_sms"
    assert entry["opt_out_column"] == "lh_smsoptout"
    assert_all_unchanged(tenants_apply(raw=exported, environ={}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("custom_activity_table", "SMS Activity", "logical name"),
        ("opt_out_column", "SMS Opt Out", "logical name"),
        ("timeline_activity", "note", "not a valid choice"),
    ],
)
def test_a_setting_the_connection_refuses_names_the_field(key, value, message):
    raw = document()
    dynamics_entry(raw)[key] = value
    assert_refused(raw, message)


def test_the_custom_activity_needs_its_table():
    raw = document()
    dynamics_entry(raw)["custom_activity_table"] = ""
    assert_refused(raw, "custom SMS activity table")


def test_a_setting_of_another_crm_is_refused():
    raw = document()
    dynamics_entry(raw)["lead_lifecycle_stages"] = "lead"
    assert_refused(raw, "lead_lifecycle_stages is a setting of hubspot accounts, not of kind dynamics")


def test_an_environment_off_dynamics_hosts_needs_an_operators_host_and_stays_on_it():
    raw = document()
    dynamics_entry(raw)["api_domain"] = "https://emulator.example.test"
    dynamics_entry(raw)["environment_url"] = "https://emulator.example.test/dynamics/crest"
    tenants_apply(raw=raw, environ={})
    assert account("crest-dynamics").custom_endpoints  # the file is an operator's: the emulator's host is allowed
    assert connection().environment_url == "https://emulator.example.test/dynamics/crest"

    raw = document()
    dynamics_entry(raw)["environment_url"] = "https://elsewhere.crm.dynamics.com"
    assert_refused(raw, "is not on the account's API domain")
    raw = document()
    dynamics_entry(raw)["environment_url"] = "https://crest.crm4.dynamics.com/dynamics/crest"
    assert_refused(raw, "address only")


# --- the demo ----------------------------------------------------------------------------------------------------
def test_the_demo_has_an_organization_on_dynamics(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo", stdout=out)

    harbor = Organization.objects.unscoped().get(slug=demo.DEMO_DV_ORGANIZATION)
    assert harbor.name == "Harbor Fitness Group"
    dynamics = account(demo.DEMO_DV_CONNECTION)
    assert dynamics.organization == harbor
    assert dynamics.kind == "dynamics"
    assert dynamics.is_default
    assert dynamics.accounts_url == settings.SANDBOX_TLS_URL  # msal's authority: the sandbox's HTTPS listener
    assert dynamics.api_domain == settings.SANDBOX_URL
    assert dynamics.custom_endpoints
    row = DynamicsConnection.unscoped_objects.get(account=dynamics)
    assert row.state == DynamicsConnection.State.CONNECTED
    assert row.environment_url == f"{settings.SANDBOX_URL}/dynamics/harborfit"
    assert row.tenant_id == demo.DEMO_DV_TENANT_ID
    assert row.org_id == demo.DEMO_DV_ORGANIZATION_ID
    assert row.application_user_id == demo.DEMO_DV_APPLICATION_USER_ID
    assert row.webhook_secret.reveal() == demo.DEMO_DV_WEBHOOK_KEY
    assert row.activity_table() == "lh_sms"
    assert connection_for_environment(demo.DEMO_DV_ORGANIZATION_ID) == dynamics  # the webhook finds it
    assert AutomationSettings.objects.unscoped().get(organization=harbor).is_enabled

    numbers = dict(PhoneNumber.objects.unscoped().filter(organization=harbor).values_list("number", "studio__slug"))
    assert numbers == {"+14155550130": "embarcadero", "+14155550131": "marina"}
    assert ids_of(demo.DEMO_DV_MANAGER[0]) == {demo.DEMO_DV_CONNECTION: demo.DEMO_DV_MANAGER[2]}
    for email, _name, _studio, user_id in demo.DEMO_DV_STAFF:
        assert ids_of(email) == {demo.DEMO_DV_CONNECTION: user_id}
    text = out.getvalue()
    assert "Harbor Fitness Group (harbor), on Dynamics 365" in text
    assert "/webhooks/crm/dynamics/events/" in text

    again = io.StringIO()
    call_command("demo", stdout=again)  # idempotent, the connection still the environment's
    assert "organizations: 0 created, 0 updated, 4 unchanged" in again.getvalue()
    assert DynamicsConnection.unscoped_objects.get(account=dynamics).org_id == demo.DEMO_DV_ORGANIZATION_ID


def test_the_demos_dynamics_values_are_the_sandboxes():
    from crm.providers.dynamics import conf
    from sandbox import worlds

    assert demo.DEMO_DV_TENANT_ID == worlds.DEMO_DV_TENANT_ID
    assert demo.DEMO_DV_ENVIRONMENT == worlds.DEMO_DV_ENVIRONMENT
    assert demo.DEMO_DV_ORG_NAME == worlds.DEMO_DV_ORGANIZATION_NAME
    assert demo.DEMO_DV_ORGANIZATION_ID == worlds.DEMO_DV_ORGANIZATION_ID
    assert demo.DEMO_DV_APPLICATION_USER_ID == worlds.DEMO_DV_APPLICATION_USER_ID
    assert demo.DEMO_DV_WEBHOOK_KEY == worlds.DEMO_DV_WEBHOOK_KEY
    assert conf.DEMO_CLIENT_ID == "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
    users = {user["internalemailaddress"]: user["systemuserid"] for user in worlds.DEMO_DV_USERS}
    assert users[demo.DEMO_DV_MANAGER[0]] == demo.DEMO_DV_MANAGER[2]
    for email, _name, _studio, user_id in demo.DEMO_DV_STAFF:
        assert users[email] == user_id
    organization = next(
        o for o in demo.demo_document(sandbox_url="x", sandbox_tls_url="y")["organizations"] if o["slug"] == "harbor"
    )
    assert {entry["number"] for entry in organization["numbers"]} == set(worlds.DEMO_DV_TWILIO_NUMBERS)
