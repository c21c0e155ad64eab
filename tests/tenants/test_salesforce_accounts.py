"""`kind: salesforce` in the tenants file: the account (the login host by default, the instance named when it is
connected), members' Salesforce user ids (15 or 18 characters, kept in the 18-character form sign-in gives), the
export applying back unchanged; and the demo's second organization, on Salesforce."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml

from django.core.management import call_command

from crm.providers.salesforce.models import SalesforceConnection
from studios.models import Membership, Organization, PhoneNumber
from tenants import demo
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tests.tenants.test_tenants_file import account, assert_all_unchanged, assert_refused

pytestmark = pytest.mark.django_db

FILE = """\
organizations:
  - slug: peak
    name: Peak Fitness
    accounts:
      - {name: peak-salesforce, kind: salesforce, default: true, client_id: "3MVG9peak",
         client_secret: "env:PEAK_SF_SECRET", refresh_token: "env:PEAK_SF_REFRESH"}
    studios:
      - {slug: north, name: North}
    members:
      - {email: pat@peak.test, role: manager, crm_user_ids: {peak-salesforce: "005A0000001AbCd"}}
      - {email: sam@peak.test, role: staff, studios: [north], crm_user_ids: {peak-salesforce: "005A0000001AbCeIAK"}}
"""
ENV = {"PEAK_SF_SECRET": "plain-sf-secret-0001", "PEAK_SF_REFRESH": "plain-sf-refresh-0002"}


def document() -> dict[str, Any]:
    return yaml.safe_load(FILE)


def ids_of(email: str) -> dict[str, str]:
    membership = Membership.objects.unscoped().get(user__email=email)
    return {link.connection.name: link.crm_user_id for link in membership.crm_users.select_related("connection")}


def test_a_salesforce_account_and_its_members_user_ids():
    tenants_apply(raw=document(), environ=ENV)

    salesforce = account("peak-salesforce")
    assert salesforce.kind == "salesforce"
    assert salesforce.accounts_url == "https://login.salesforce.com"  # the default login host
    assert salesforce.api_domain == ""  # Salesforce names the instance when the account is connected
    assert salesforce.custom_endpoints is False
    assert salesforce.is_crm_connection
    assert salesforce.client_secret.reveal() == ENV["PEAK_SF_SECRET"]
    # A 15-character id (as a Salesforce page shows it) is kept in the 18-character form the API and sign-in give.
    assert ids_of("pat@peak.test") == {"peak-salesforce": "005A0000001AbCdIAK"}
    assert ids_of("sam@peak.test") == {"peak-salesforce": "005A0000001AbCeIAK"}


def test_the_export_applies_back_unchanged():
    tenants_apply(raw=document(), environ=ENV)
    exported = tenants_export()
    entry = exported["organizations"][0]
    assert {"name": "peak-salesforce", "kind": "salesforce"}.items() <= entry["accounts"][0].items()
    assert entry["members"][0]["crm_user_ids"] == {"peak-salesforce": "005A0000001AbCdIAK"}
    assert_all_unchanged(tenants_apply(raw=exported, environ={}))
    assert_all_unchanged(tenants_apply(raw=document(), environ=ENV))  # the 15-character form is the same id


def test_a_my_domain_login_host_is_salesforces_own_and_another_host_is_an_operators():
    raw = document()
    raw["organizations"][0]["accounts"][0]["accounts_url"] = "https://peak.my.salesforce.com"
    raw["organizations"][0]["accounts"][0]["api_domain"] = "https://peak.my.salesforce.com"
    tenants_apply(raw=raw, environ=ENV)
    assert account("peak-salesforce").custom_endpoints is False

    raw["organizations"][0]["accounts"][0]["accounts_url"] = "https://sf-emulator.example"
    tenants_apply(raw=raw, environ=ENV)
    assert account("peak-salesforce").custom_endpoints is True


@pytest.mark.parametrize("bad", ["4150868000000225013", "001A0000001AbCd", "005A0000001AbC", "005A0000001AbCd!!!"])
def test_a_value_that_is_no_salesforce_user_id_is_refused(bad):
    raw = document()
    raw["organizations"][0]["members"][0]["crm_user_ids"] = {"peak-salesforce": bad}
    assert_refused(raw, "is not a Salesforce user id", environ=ENV)


def test_zoho_fields_are_refused_on_a_salesforce_account():
    raw = document()
    raw["organizations"][0]["accounts"][0]["api_base_url"] = "https://voice.zoho.com"
    assert_refused(raw, "Not used by a Salesforce account", environ=ENV)


# --- the demo ---------------------------------------------------------------------------------------------------
def test_the_demo_has_a_second_organization_on_salesforce(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo", stdout=out)

    summit = Organization.objects.unscoped().get(slug=demo.DEMO_SF_ORGANIZATION)
    assert summit.name == "Summit Fitness Co."
    salesforce = account(demo.DEMO_SF_CONNECTION)
    assert salesforce.organization == summit
    assert salesforce.kind == "salesforce"
    assert salesforce.is_default
    assert salesforce.refresh_token.reveal() == demo.DEMO_SF_REFRESH_TOKEN
    assert salesforce.accounts_url == salesforce.api_domain == settings.SANDBOX_URL
    connection = SalesforceConnection.unscoped_objects.get(account=salesforce)
    assert connection.state == SalesforceConnection.State.CONNECTED
    assert connection.sf_org_id == demo.DEMO_SF_ORG_ID
    assert connection.organization == summit

    numbers = dict(PhoneNumber.objects.unscoped().filter(organization=summit).values_list("number", "studio__slug"))
    assert numbers == {"+14155550110": "ridge", "+14155550111": "valley"}
    # Each member is also themselves in Summit Marketing's HubSpot portal (the two-way link's owners map through them).
    assert ids_of(demo.DEMO_SF_MANAGER_EMAIL) == {
        demo.DEMO_SF_CONNECTION: demo.DEMO_SF_MANAGER_ID,
        demo.DEMO_SUMMIT_HS_CONNECTION: demo.DEMO_SUMMIT_HS_OWNERS[demo.DEMO_SF_MANAGER_EMAIL],
    }
    for email, _name, _studio, user_id in demo.DEMO_SF_STAFF:
        assert ids_of(email) == {
            demo.DEMO_SF_CONNECTION: user_id,
            demo.DEMO_SUMMIT_HS_CONNECTION: demo.DEMO_SUMMIT_HS_OWNERS[email],
        }
    text = out.getvalue()
    assert "Summit Fitness Co. (summit), on Salesforce" in text
    assert f"/webhooks/crm/salesforce/leads/{demo.DEMO_SF_LEAD_WEBHOOK_TOKEN}/" in text
    # The other organization is untouched by it: Zoho's demo is as before.
    assert account("demo-zoho-crm").organization.slug == "demo"


def test_the_demos_salesforce_values_are_the_sandboxes():
    from sandbox import worlds

    assert demo.DEMO_SF_ORG_ID == worlds.DEMO_SF_ORG_ID
    assert demo.DEMO_SF_ORG_NAME == worlds.DEMO_SF_ORG_NAME
    assert demo.DEMO_SF_CLIENT_ID == worlds.DEMO_SF_CLIENT_ID
    assert demo.DEMO_SF_CLIENT_SECRET == worlds.DEMO_SF_CLIENT_SECRET
    assert demo.DEMO_SF_REFRESH_TOKEN == worlds.DEMO_SF_REFRESH_TOKEN
    assert demo.DEMO_SF_LEAD_WEBHOOK_TOKEN == worlds.DEMO_SF_LEAD_WEBHOOK_TOKEN
    sandbox_users = {user["email"]: user["id"] for user in worlds.DEMO_SF_USERS}
    ours = {demo.DEMO_SF_MANAGER_EMAIL: demo.DEMO_SF_MANAGER_ID}
    ours.update({email: user_id for email, _name, _studio, user_id in demo.DEMO_SF_STAFF})
    assert ours == sandbox_users
    numbers = {entry["number"] for entry in demo.demo_document(sandbox_url="x")["organizations"][1]["numbers"]}
    assert numbers == set(worlds.DEMO_SF_TWILIO_NUMBERS)


def test_the_instance_named_at_connect_survives_applying_the_file_again():
    tenants_apply(raw=document(), environ=ENV)
    salesforce = account("peak-salesforce")
    salesforce.api_domain = "https://peak.my.salesforce.com"  # what connecting stored
    salesforce.save(update_fields=["api_domain"])

    assert_all_unchanged(tenants_apply(raw=document(), environ=ENV))  # the file names no instance
    assert account("peak-salesforce").api_domain == "https://peak.my.salesforce.com"

    raw = document()
    raw["organizations"][0]["accounts"][0]["api_domain"] = "https://peak2.my.salesforce.com"
    tenants_apply(raw=raw, environ=ENV)  # one the file names wins
    assert account("peak-salesforce").api_domain == "https://peak2.my.salesforce.com"
