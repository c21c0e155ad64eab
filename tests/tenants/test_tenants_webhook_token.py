"""The new-lead webhook token from the tenants file: set as env:NAME (or a literal), rotated by changing it."""

from typing import Any

import pytest

from automation.models import AutomationSettings
from studios.models import Organization
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tenants.schema import TenantsFileError

pytestmark = pytest.mark.django_db

TOKEN_1 = "first-lead-webhook-token-aaaaaaaaaaaaaaaaaaaa"
TOKEN_2 = "second-lead-webhook-token-bbbbbbbbbbbbbbbbbbb"


def document(**org: Any) -> dict[str, Any]:
    return {"organizations": [{"slug": "acme", "name": "Acme Fitness", **org}]}


def post_lead(client, token: str):
    return client.post(f"/webhooks/zoho/leads/{token}/", data='{"lead_id": "1"}', content_type="application/json")


def test_the_token_is_set_from_an_environment_variable_and_the_webhook_url_works(client):
    report = tenants_apply(raw=document(lead_webhook_token="env:ACME_LEAD_TOKEN"), environ={"ACME_LEAD_TOKEN": TOKEN_1})
    assert report.created["organizations"] == 1
    org = Organization.objects.unscoped().get(slug="acme")
    row = AutomationSettings.objects.for_organization(org).get()
    assert row.webhook_token.reveal() == TOKEN_1
    assert post_lead(client, TOKEN_1).status_code == 200
    assert post_lead(client, TOKEN_2).status_code == 403


def test_rotating_in_the_file_replaces_the_url_and_the_old_token_stops_at_once(client):
    tenants_apply(raw=document(lead_webhook_token="env:T"), environ={"T": TOKEN_1})
    report = tenants_apply(raw=document(lead_webhook_token="env:T"), environ={"T": TOKEN_2})
    assert report.updated["organizations"] == 1
    assert post_lead(client, TOKEN_2).status_code == 200
    assert post_lead(client, TOKEN_1).status_code == 403  # documented: Zoho's workflow URL must be updated


def test_applying_the_same_token_again_changes_nothing_and_omitting_it_keeps_it(client):
    tenants_apply(raw=document(lead_webhook_token=TOKEN_1))
    again = tenants_apply(raw=document(lead_webhook_token=TOKEN_1))
    assert again.unchanged["organizations"] == 1
    assert not again.changed
    omitted = tenants_apply(raw=document())
    assert not omitted.changed
    assert post_lead(client, TOKEN_1).status_code == 200


def test_export_never_contains_the_token_and_applies_back_without_changing_it(client):
    tenants_apply(raw=document(lead_webhook_token=TOKEN_1))
    exported = tenants_export()
    assert TOKEN_1 not in repr(exported)
    assert "lead_webhook_token" not in exported["organizations"][0]
    assert not tenants_apply(raw=exported).changed
    assert post_lead(client, TOKEN_1).status_code == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("short", "at least 32 characters"),
        ("has/a/slash-and-is-long-enough-to-pass-0000", "letters, digits"),
        ("has spaces and is certainly long enough 00", "letters, digits"),
    ],
)
def test_an_unusable_token_is_refused_naming_the_field_and_nothing_is_written(value, message):
    with pytest.raises(TenantsFileError) as refused:
        tenants_apply(raw=document(lead_webhook_token=value))
    assert any("organizations[0] (acme) > lead_webhook_token" in e and message in e for e in refused.value.errors)
    assert value not in str(refused.value)
    assert not Organization.objects.unscoped().filter(slug="acme").exists()


def test_a_missing_environment_variable_is_refused():
    with pytest.raises(TenantsFileError, match="environment variable NOPE is not set"):
        tenants_apply(raw=document(lead_webhook_token="env:NOPE"), environ={})


def test_two_organizations_cannot_share_a_token():
    tenants_apply(raw=document(lead_webhook_token=TOKEN_1))
    other = {"organizations": [{"slug": "other", "name": "Other", "lead_webhook_token": TOKEN_1}]}
    with pytest.raises(TenantsFileError) as refused:
        tenants_apply(raw=other)
    assert any("lead_webhook_token" in e and "another organization" in e for e in refused.value.errors)
    assert TOKEN_1 not in str(refused.value)
