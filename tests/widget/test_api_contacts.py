"""A contact's opt-out state, the lead's CRM context (Zoho, cached; errors in the one shape), the templates list,
and the OpenAPI schema of the API (generated without a warning)."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
import requests

from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from crm.errors import CrmAuthError, CrmNotFound, CrmUnavailable
from crm.records import CanonicalRecord
from sandbox import worlds
from tests.factories import ZohoCrmAccountFactory
from tests.messaging.factories import ContactFactory, ConversationFactory, OptOutFactory
from widget.api import crm

pytestmark = pytest.mark.django_db

LEAD = CanonicalRecord(
    object="lead",
    id="4150868000000231001",
    modified_time=datetime(2026, 12, 1, tzinfo=UTC),
    name="Dana Scully",
    owner_id="4150868000000225013",
    owner_name="Ana Alvarez",
    fields={"first_name": "Dana", "last_name": "Scully", "lead_status": "Contacted"},
)


@pytest.fixture(autouse=True)
def _clean_cache():
    """The CRM context is cached; REDIS_URL is this suite's own database, so clearing it is safe."""
    cache.clear()
    yield
    cache.clear()


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def linked(tenant_a):
    contact = ContactFactory(
        organization=tenant_a.organization,
        connection=tenant_a.zoho,
        crm_object="lead",
        crm_record_id=LEAD.id,
        name="Dana",
    )
    ConversationFactory(studio=tenant_a.studio, contact=contact)
    return contact


# --- opt-out ----------------------------------------------------------------------------------------------------
def test_a_contact_never_opted_out_may_be_texted(tenant_a, linked):
    data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/opt-out/").json()
    assert data == {
        "contact_id": linked.pk,
        "phone": linked.phone,
        "opted_out": False,
        "state": None,
        "source": None,
        "changed_at": None,
        "blocked_senders": [],
    }


def test_staff_see_an_opt_out_of_a_contact_they_text(tenant_a, linked):
    OptOutFactory(organization=tenant_a.organization, phone=linked.phone, source="provider")
    data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/opt-out/").json()
    assert (data["opted_out"], data["state"], data["source"]) == (True, "opted_out", "provider")


def test_an_opt_out_of_the_same_phone_in_another_organization_does_not_count(tenant_a, tenant_b, linked):
    OptOutFactory(organization=tenant_b.organization, phone=linked.phone)
    data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/opt-out/").json()
    assert data["opted_out"] is False


# --- CRM context --------------------------------------------------------------------------------------------------
def test_a_contact_without_a_crm_link_says_so(tenant_a):
    contact = ContactFactory(organization=tenant_a.organization)
    ConversationFactory(studio=tenant_a.studio, contact=contact)
    with mock.patch.object(crm, "provider_for") as provider_for:
        response = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{contact.pk}/crm/")
    assert response.json() == {"linked": False}
    provider_for.assert_not_called()


def test_the_lead_comes_from_the_crm_and_is_cached(tenant_a, linked):
    with mock.patch.object(crm, "provider_for") as provider_for:
        provider_for.return_value.record.return_value = LEAD
        first = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/crm/")
        second = signed_in(tenant_a.manager).get(f"/api/v1/contacts/{linked.pk}/crm/")
    assert first.status_code == 200
    assert first.json() == {
        "linked": True,
        "source": "crm",
        "object": "lead",
        "record_id": LEAD.id,
        "found": True,
        "name": "Dana Scully",
        "status": "Contacted",
        "owner_id": "4150868000000225013",
        "owner_name": "Ana Alvarez",
        # The link is made from the connection (its data centre), not asked of the CRM.
        "url": f"https://crm.zoho.eu/crm/tab/Leads/{LEAD.id}",
        "crm": "Zoho CRM",
    }
    assert second.json() == first.json()
    provider_for.return_value.record.assert_called_once()
    assert provider_for.call_args.kwargs["priority"] == "interactive"


def test_the_mirror_answers_first_when_it_has_the_record(tenant_a, linked):
    from_mirror = crm.CrmContext(source="mirror", object="lead", record_id=LEAD.id, found=True, name="M")
    with (
        mock.patch.object(crm, "crm_context_from_mirror", return_value=from_mirror),
        mock.patch.object(crm, "provider_for") as provider_for,
    ):
        data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/crm/").json()
    assert (data["source"], data["name"]) == ("mirror", "M")
    provider_for.assert_not_called()


def test_a_record_the_crm_no_longer_has_is_found_false(tenant_a, linked):
    with mock.patch.object(crm, "provider_for") as provider_for:
        provider_for.return_value.record.side_effect = CrmNotFound("gone", provider="zoho")
        data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/crm/").json()
    assert (data["linked"], data["found"]) == (True, False)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CrmUnavailable("down", status=503, retry_after=5), "crm_unavailable"),
        (CrmAuthError("revoked", status=401), "crm_reconnect_required"),
    ],
)
def test_crm_failures_are_502_in_the_one_shape(tenant_a, linked, error, code):
    with mock.patch.object(crm, "provider_for") as provider_for:
        provider_for.return_value.record.side_effect = error
        response = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/crm/")
    assert response.status_code == 502
    assert set(response.json()) == {"message", "extra"}
    assert response.json()["extra"] == {"code": code}


def test_an_organization_without_a_crm_gets_a_clear_502(tenant_a, linked):
    linked.connection = None
    linked.save()
    tenant_a.zoho.delete()
    response = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{linked.pk}/crm/")
    assert response.status_code == 502
    assert response.json()["extra"] == {"code": "crm_not_connected"}


def test_the_crm_context_over_real_http_from_the_sandbox(tenant_a, empty_sandbox):
    """No mock: the Zoho provider asks the emulated Zoho CRM for a lead created there."""
    tenant_a.zoho.delete()
    ZohoCrmAccountFactory(
        organization=tenant_a.organization,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
        accounts_url=empty_sandbox.url,
        api_domain=empty_sandbox.url,
    )
    created = requests.post(
        f"{empty_sandbox.url}/_sandbox/zoho/leads",
        json={"First_Name": "Walter", "Last_Name": "Skinner", "Mobile": "+16175550142"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    contact = ContactFactory(
        organization=tenant_a.organization, crm_object="lead", crm_record_id=str(created.json()["id"])
    )
    ConversationFactory(studio=tenant_a.studio, contact=contact)
    data = signed_in(tenant_a.staff).get(f"/api/v1/contacts/{contact.pk}/crm/").json()
    assert (data["found"], data["name"]) == (True, "Walter Skinner")
    assert data["owner_id"]


# --- templates ----------------------------------------------------------------------------------------------------
def test_templates_list_each_studios_texts_and_merge_fields(tenant_a):
    tenant_a.studio.help_message = "{studio_name}: reply STOP to stop."
    tenant_a.studio.save()
    rows = signed_in(tenant_a.staff).get("/api/v1/templates/").json()
    assert len(rows) == 1
    templates = {t["key"]: t["text"] for t in rows[0]["templates"]}
    assert set(templates) == {"welcome", "help", "follow_up"}
    assert templates["help"] == "{studio_name}: reply STOP to stop."
    assert "first_name" in rows[0]["merge_fields"]


def test_templates_filter_by_studio(tenant_a):
    client = signed_in(tenant_a.manager)
    assert [r["studio_id"] for r in client.get(f"/api/v1/templates/?studio_id={tenant_a.other_studio.pk}").json()] == [
        tenant_a.other_studio.pk
    ]
    assert client.get("/api/v1/templates/?studio_id=abc").json() == []


# --- the schema ---------------------------------------------------------------------------------------------------
def test_the_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/conversations/", "/api/v1/conversations/{id}/messages/", "/api/v1/contacts/{id}/crm/"):
        assert f"  {path}:" in text


def test_swagger_ui_is_served_from_our_own_static_files(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in page.content
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200
