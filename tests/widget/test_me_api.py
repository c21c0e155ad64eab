"""GET /api/v1/me/: the signed-in member, their organization, and the studios and numbers they may text from;
nothing of another organization or another studio, and 401 for the anonymous (the widget's cue to sign in)."""

from __future__ import annotations

import pytest

from django.test import Client

from tests.factories import MembershipFactory, PhoneNumberFactory, StudioFactory

pytestmark = pytest.mark.django_db


def me(membership) -> dict:
    client = Client()
    client.force_login(membership.user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200, response.content
    return response.json()


def numbers_by_studio(data: dict) -> dict[str, set[str]]:
    return {s["name"]: {n["number"] for n in s["numbers"]} for s in data["studios"]}


def test_a_manager_sees_every_studio_of_their_organization_with_the_numbers_serving_it(tenant_a, tenant_b):
    data = me(tenant_a.manager)
    assert data["user"] == {
        "id": tenant_a.manager.user.pk,
        "name": tenant_a.manager.user.get_full_name(),
        "email": "manager@acme.test",
    }
    assert (data["role"], data["is_manager"]) == ("manager", True)
    assert data["organization"] == {"id": tenant_a.organization.pk, "name": "Acme Fitness"}
    own, shared = tenant_a.number.number, tenant_a.shared_number.number
    assert numbers_by_studio(data) == {"Acme East": {shared}, "Acme Main": {own, shared}}
    assert {n["shared"] for s in data["studios"] for n in s["numbers"] if n["number"] == shared} == {True}


def test_staff_see_only_their_studios_and_never_another_organizations(tenant_a, tenant_b):
    data = me(tenant_a.staff)
    assert (data["role"], data["is_manager"]) == ("staff", False)
    assert numbers_by_studio(data) == {"Acme Main": {tenant_a.number.number, tenant_a.shared_number.number}}
    everything = str(data)
    for leaked in (tenant_b.organization.name, tenant_b.studio.name, tenant_b.number.number, "Acme East"):
        assert leaked not in everything


def test_a_number_shared_with_some_studios_is_offered_only_to_those(tenant_a):
    limited = PhoneNumberFactory(organization=tenant_a.organization, account=tenant_a.twilio, studio=None)
    limited.shared_with.set([tenant_a.other_studio])
    data = me(tenant_a.manager)
    assert limited.number in numbers_by_studio(data)["Acme East"]
    assert limited.number not in numbers_by_studio(data)["Acme Main"]


def test_inactive_studios_and_numbers_are_not_offered(tenant_a):
    StudioFactory(organization=tenant_a.organization, name="Acme Closed", is_active=False)
    tenant_a.shared_number.is_active = False
    tenant_a.shared_number.save()
    assert numbers_by_studio(me(tenant_a.manager)) == {"Acme East": set(), "Acme Main": {tenant_a.number.number}}


def test_the_anonymous_get_401_in_the_one_error_shape():
    response = Client().get("/api/v1/me/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_an_inactive_member_and_an_operator_are_refused(tenant_a, operator):
    inactive = MembershipFactory(organization=tenant_a.organization, studios=[tenant_a.studio], is_active=False)
    for user in (inactive.user, operator):
        client = Client()
        client.force_login(user)
        assert client.get("/api/v1/me/").status_code == 403
