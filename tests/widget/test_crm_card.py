"""The widget's CRM card (GET /api/v1/contacts/<id>/crm/): name, status, owner and a link to the record's page in
the CRM, from the mirror when it holds the record (no CRM call), else from the CRM over HTTP (the sandbox); never
another organization's record, and only for members who may see the contact."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from django.core.cache import cache
from django.test import Client

from crm.registry import registered
from sandbox import worlds
from studios.models import ProviderAccount
from sync.models import CrmPhone
from tests.factories import ZohoCrmAccountFactory
from tests.messaging.factories import ContactFactory, ConversationFactory
from tests.messaging.test_mirror_use import mirror_lead
from widget.api import crm

pytestmark = pytest.mark.django_db

MIRRORED = "4150868000000777001"  # mirror_lead's record id


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def card(member, contact) -> tuple[int, dict]:
    client = Client()
    client.force_login(member.user)
    response = client.get(f"/api/v1/contacts/{contact.pk}/crm/")
    return response.status_code, response.json()


def linked_contact(tenant, record_id: str, *, studio=None, connection=None):
    contact = ContactFactory(
        organization=tenant.organization, crm_object="lead", crm_record_id=record_id, connection=connection
    )
    ConversationFactory(studio=studio or tenant.studio, contact=contact)
    return contact


def test_a_mirrored_lead_gives_the_card_and_its_link_without_a_crm_call(tenant_a, monkeypatch):
    mirror_lead(tenant_a, phone="+14155559500", owner_id="4150868000000225013", name="Mira Mirror", status="New")
    contact = linked_contact(tenant_a, MIRRORED, connection=tenant_a.zoho)
    monkeypatch.setattr(crm, "provider_for", None)  # reading the CRM would fail the test
    status, data = card(tenant_a.staff, contact)
    assert status == 200
    assert (data["source"], data["name"], data["status"]) == ("mirror", "Mira Mirror", "New")
    assert data["owner_name"] == "Staff Member"
    assert data["url"] == f"https://crm.zoho.eu/crm/tab/Leads/{MIRRORED}"
    assert data["crm"] == "Zoho CRM"


def test_not_mirrored_the_card_comes_from_the_crm_never_from_another_organizations_mirror(
    tenant_a, tenant_b, empty_sandbox
):
    tenant_a.zoho.delete()
    ZohoCrmAccountFactory(
        organization=tenant_a.organization,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
        accounts_url=empty_sandbox.url,
        api_domain=empty_sandbox.url,
        custom_endpoints=True,
    )
    created = requests.post(
        f"{empty_sandbox.url}/_sandbox/zoho/leads",
        json={"First_Name": "Walter", "Last_Name": "Skinner", "Mobile": "+16175550142"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    lead_id = str(created.json()["id"])
    # Another organization's CRM org has a record with the same id, mirrored under another name.
    record = mirror_lead(tenant_b, phone="+14155559501", owner_id="9", name="Bolt Secret Lead")
    record.external_id = lead_id
    record.save(update_fields=["external_id"])
    status, data = card(tenant_a.staff, linked_contact(tenant_a, lead_id))
    assert status == 200
    assert (data["source"], data["name"]) == ("crm", "Walter Skinner")
    assert data["url"] == f"{empty_sandbox.url}/crm/tab/Leads/{lead_id}"


def test_only_members_who_may_see_the_contact_get_its_card(tenant_a, tenant_b):
    mirror_lead(tenant_a, phone="+14155559502", owner_id="4150868000000225013")
    elsewhere = linked_contact(tenant_a, MIRRORED, studio=tenant_a.other_studio, connection=tenant_a.zoho)
    assert card(tenant_a.manager, elsewhere)[0] == 200
    assert card(tenant_a.staff, elsewhere)[0] == 404  # staff of another studio of the organization
    assert card(tenant_b.manager, elsewhere)[0] == 404
    assert card(tenant_b.staff, elsewhere)[0] == 404


def test_a_provider_link_that_is_not_a_web_address_is_dropped(tenant_a, monkeypatch):
    from crm.providers.zoho.provider import ZohoCrmProvider

    mirror_lead(tenant_a, phone="+14155559503", owner_id="4150868000000225013")
    contact = linked_contact(tenant_a, MIRRORED, connection=tenant_a.zoho)
    monkeypatch.setattr(ZohoCrmProvider, "record_url", lambda self, **_: "javascript:alert(1)")
    status, data = card(tenant_a.staff, contact)
    assert (status, data["url"]) == (200, "")


def test_a_salesforce_lead_links_to_its_lightning_page(tenant_a, monkeypatch):
    if "salesforce" not in registered():
        pytest.skip("the Salesforce provider is not registered")
    account = ProviderAccount.unscoped_objects.create(
        organization=tenant_a.organization,
        name="summit-salesforce",
        kind="salesforce",
        client_id="3MVG9.test",
        accounts_url="https://login.salesforce.com",
        api_domain="https://summit.my.salesforce.com",
    )
    lead_id = "00Q5g00000AbCdEEAV"  # an 18-character id with its checksum
    tenant = SimpleNamespace(organization=tenant_a.organization, zoho=account)
    record = mirror_lead(tenant, phone="+14155559504", owner_id="0055g00000AbCdEAAV")
    CrmPhone.unscoped_objects.filter(external_id=record.external_id).update(external_id=lead_id)
    record.external_id = lead_id
    record.save(update_fields=["external_id"])
    contact = linked_contact(tenant_a, lead_id, connection=account)
    monkeypatch.setattr(crm, "provider_for", None)  # reading the CRM would fail the test
    status, data = card(tenant_a.staff, contact)
    assert (status, data["source"], data["crm"]) == (200, "mirror", "Salesforce")
    assert data["url"] == f"https://summit.my.salesforce.com/lightning/r/Lead/{lead_id}/view"
