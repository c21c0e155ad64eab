"""GET /api/v1/conversations/?crm_record_id=: the widget opened on a CRM record finds that lead's threads, within
what the member may see; another organization's contact with the same record id is never returned."""

from __future__ import annotations

import pytest

from django.test import Client

from tests.messaging.factories import ContactFactory, ConversationFactory

pytestmark = pytest.mark.django_db

RECORD = "4150868000000624001"


def ids(member, record: str = RECORD) -> set[int]:
    client = Client()
    client.force_login(member.user)
    response = client.get("/api/v1/conversations/", {"crm_record_id": record})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def threads(tenant_a, tenant_b):
    lead = ContactFactory(organization=tenant_a.organization, crm_object="lead", crm_record_id=RECORD)
    # The same id in another organization's CRM org: a different record, never theirs to see.
    twin = ContactFactory(organization=tenant_b.organization, crm_object="lead", crm_record_id=RECORD)
    return {
        "main": ConversationFactory(studio=tenant_a.studio, contact=lead),
        "east": ConversationFactory(studio=tenant_a.other_studio, contact=lead),
        "other_lead": ConversationFactory(studio=tenant_a.studio),
        "theirs": ConversationFactory(studio=tenant_b.studio, contact=twin),
    }


def test_the_manager_finds_every_thread_of_the_record_in_their_organization(tenant_a, threads):
    assert ids(tenant_a.manager) == {threads["main"].pk, threads["east"].pk}


def test_staff_find_only_their_studios_thread(tenant_a, threads):
    assert ids(tenant_a.staff) == {threads["main"].pk}


def test_another_organization_never_sees_this_organizations_thread(tenant_b, threads):
    assert ids(tenant_b.manager) == {threads["theirs"].pk}
    assert ids(tenant_b.staff) == {threads["theirs"].pk}


def test_an_unknown_record_finds_nothing(tenant_a, threads):
    assert ids(tenant_a.manager, "4150868000000999999") == set()


def test_an_overlong_record_id_is_a_validation_error(tenant_a):
    client = Client()
    client.force_login(tenant_a.manager.user)
    response = client.get("/api/v1/conversations/", {"crm_record_id": "9" * 65})
    assert response.status_code == 400
    assert "crm_record_id" in response.json()["extra"]["fields"]
