"""Members' CRM user ids on the member page: one field per CRM connection of the member's organization, saved
through the services; nothing of another organization can be seen, named or set."""

from __future__ import annotations

import pytest

from django.urls import reverse

from core.models import User
from studios import services
from studios.models import MemberCrmUser, Membership
from studios.selectors import crm_user_id_of
from tests.factories import ZohoCrmAccountFactory
from tests.studios.test_admin import admin_url, crm_field, errors, form, member_data

pytestmark = pytest.mark.django_db
ANA_ID = "4150868000000225013"


@pytest.fixture
def as_manager_a(client, tenant_a, tenant_b):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def as_operator(client, operator, tenant_a, tenant_b):
    client.force_login(operator)
    return client


def crm_fields(response) -> list[str]:
    return sorted(name for name in form(response).fields if name.startswith("crm_user_id_"))


def test_the_member_page_has_a_field_per_crm_connection_of_the_organization_only(as_manager_a, tenant_a, tenant_b):
    second = ZohoCrmAccountFactory(organization=tenant_a.organization, name="acme-zoho-eu", is_default=False)
    services.member_crm_user_set(membership=tenant_a.staff, connection=tenant_a.zoho, crm_user_id=ANA_ID)

    response = as_manager_a.get(admin_url("membership", "change", tenant_a.staff.pk))

    assert crm_fields(response) == sorted([crm_field(tenant_a.zoho), crm_field(second)])  # not Twilio, not B's
    assert form(response)[crm_field(tenant_a.zoho)].value() == ANA_ID
    assert "CRM user id on acme-zoho-eu" in response.content.decode()
    assert crm_fields(as_manager_a.get(admin_url("membership", "add"))) == crm_fields(response)


def test_a_manager_links_a_new_member_to_their_crm_user(as_manager_a, tenant_a):
    response = as_manager_a.post(
        admin_url("membership", "add"), member_data(tenant_a, **{crm_field(tenant_a.zoho): ANA_ID})
    )

    assert response.status_code == 302
    member = Membership.objects.unscoped().get(user__email="new.person@acme.test")
    assert crm_user_id_of(membership=member, connection=tenant_a.zoho) == ANA_ID


def test_a_blank_id_unlinks_the_member(as_manager_a, tenant_a):
    staff = tenant_a.staff
    services.member_crm_user_set(membership=staff, connection=tenant_a.zoho, crm_user_id=ANA_ID)
    data = member_data(
        tenant_a, email=staff.user.email, full_name=staff.user.full_name, **{crm_field(tenant_a.zoho): ""}
    )

    response = as_manager_a.post(admin_url("membership", "change", staff.pk), data)

    assert response.status_code == 302
    assert not MemberCrmUser.objects.unscoped().filter(membership=staff).exists()


def test_one_crm_user_is_one_person_and_the_form_says_who(as_manager_a, tenant_a):
    services.member_crm_user_set(membership=tenant_a.manager, connection=tenant_a.zoho, crm_user_id=ANA_ID)
    users_before = User.objects.count()

    response = as_manager_a.post(
        admin_url("membership", "add"), member_data(tenant_a, **{crm_field(tenant_a.zoho): ANA_ID})
    )

    assert response.status_code == 200
    assert [e["message"] for e in errors(response)[crm_field(tenant_a.zoho)]] == [
        f"CRM user {ANA_ID} on acme-zoho is already manager@acme.test."
    ]
    assert User.objects.count() == users_before


def test_a_malformed_id_is_refused_on_its_field(as_manager_a, tenant_a):
    response = as_manager_a.post(
        admin_url("membership", "add"), member_data(tenant_a, **{crm_field(tenant_a.zoho): "not an id!"})
    )

    assert response.status_code == 200
    assert crm_field(tenant_a.zoho) in errors(response)


def test_another_organizations_connection_cannot_be_named(as_manager_a, tenant_a, tenant_b):
    staff = tenant_a.staff
    data = member_data(
        tenant_a,
        email=staff.user.email,
        full_name=staff.user.full_name,
        **{crm_field(tenant_a.zoho): "", crm_field(tenant_b.zoho): ANA_ID},
    )

    response = as_manager_a.post(admin_url("membership", "change", staff.pk), data)

    assert response.status_code == 302  # the unknown field is not part of the form: ignored
    assert not MemberCrmUser.objects.unscoped().exists()


def test_another_organizations_member_stays_not_found_with_crm_ids_typed(as_manager_a, tenant_a, tenant_b):
    services.member_crm_user_set(membership=tenant_b.staff, connection=tenant_b.zoho, crm_user_id=ANA_ID)
    data = member_data(tenant_b, email=tenant_b.staff.user.email, **{crm_field(tenant_b.zoho): "999"})

    response = as_manager_a.post(admin_url("membership", "change", tenant_b.staff.pk), data)

    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert crm_user_id_of(membership=tenant_b.staff, connection=tenant_b.zoho) == ANA_ID


def test_the_list_shows_the_ids_and_searches_them_within_the_organization(as_manager_a, tenant_a, tenant_b):
    services.member_crm_user_set(membership=tenant_a.staff, connection=tenant_a.zoho, crm_user_id="111222")
    services.member_crm_user_set(membership=tenant_b.staff, connection=tenant_b.zoho, crm_user_id="111333")

    listed = as_manager_a.get(admin_url("membership", "changelist"))
    found = as_manager_a.get(admin_url("membership", "changelist"), {"q": "111"})

    assert "111222 on acme-zoho" in listed.content.decode()
    assert [m.pk for m in found.context["cl"].result_list] == [tenant_a.staff.pk]
    assert "111333" not in found.content.decode()
    assert not as_manager_a.get(admin_url("membership", "changelist"), {"q": "111333"}).context["cl"].result_list


def test_an_operator_sets_the_ids_on_the_members_own_organizations_connections(as_operator, tenant_a, tenant_b):
    response = as_operator.get(admin_url("membership", "change", tenant_b.staff.pk))

    assert crm_fields(response) == [crm_field(tenant_b.zoho)]
    assert crm_fields(as_operator.get(admin_url("membership", "add"))) == []  # no organization chosen yet
