"""Adding a number or a member tells a manager nothing about other organizations.

Phone numbers are unique per provider across all tenants and a person belongs to one organization, so a manager
who types another organization's number or a stranger's email address must be refused. The refusal is the same
page, word for word and status for status, as for a value refused for any other reason (a premium-rate number;
an operator's address), and names nothing outside the manager's organization. Operators are told the reason.
"""

from __future__ import annotations

import re

import pytest

from django.core.exceptions import ValidationError

from core.models import User
from studios import services
from studios.models import Membership, PhoneNumber
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.studios.test_admin import admin_url, member_data, number_data

NUMBER_REFUSED = "This number cannot be added. Contact support if you own it."
EMAIL_REFUSED = "This email address cannot be added. Contact support if it is yours."
PREMIUM_RATE = "+19002345678"  # a valid US premium-rate number: a lead who replies would pay for it
DEFAULT_UNIQUE_ERROR = "already exists"  # Django's "Phone number with this Provider and Number already exists."


# --- helpers --------------------------------------------------------------------------------------------------
def field_errors(response) -> dict:
    return response.context["adminform"].form.errors.get_json_data()


def page(response, *typed: str) -> str:
    """The page with what differs between two requests by design taken out: the CSRF token and what was typed."""
    content = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    for value in typed:
        content = content.replace(value, "TYPED")
    return content


def names_of(tenant) -> list[str]:
    return [
        tenant.organization.name,
        tenant.organization.slug,
        tenant.studio.name,
        tenant.manager.user.email,
        tenant.staff.user.email,
        tenant.twilio.name,
        tenant.number.label or tenant.number.number,
    ]


def assert_names_nothing_of(tenant, response, *, typed: str) -> None:
    content = response.content.decode()
    leaked = [name for name in names_of(tenant) if name and name in content and name not in typed]
    assert not leaked, f"the answer names another organization's data: {leaked}"
    assert DEFAULT_UNIQUE_ERROR not in content
    assert "another organization" not in content


@pytest.fixture
def as_manager_a(client, tenant_a, tenant_b):
    client.force_login(tenant_a.manager.user)
    return client


# --- 1. numbers -----------------------------------------------------------------------------------------------
def test_another_organizations_number_is_refused_exactly_like_a_number_refused_for_another_reason(
    as_manager_a, tenant_a, tenant_b
):
    taken = tenant_b.number.number
    before = PhoneNumber.unscoped_objects.count()

    elsewhere = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, number=taken))
    refused = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, number=PREMIUM_RATE))

    assert elsewhere.status_code == refused.status_code == 200
    assert (
        field_errors(elsewhere) == field_errors(refused) == {"number": [{"message": NUMBER_REFUSED, "code": "refused"}]}
    )
    assert page(elsewhere, taken) == page(refused, PREMIUM_RATE)
    assert_names_nothing_of(tenant_b, elsewhere, typed=taken)
    assert PhoneNumber.unscoped_objects.count() == before


@pytest.mark.parametrize(
    "typed", ["+1{}", " +1{} ", "+1 ({}) {}-{}", "+1.{}.{}.{}"], ids=["e164", "spaces", "us-style", "dots"]
)
def test_the_refusal_is_the_same_however_the_number_is_typed(as_manager_a, tenant_a, tenant_b, typed):
    digits = tenant_b.number.number[2:]  # +1 415 555 2NNN
    value = typed.format(digits) if typed.count("{}") == 1 else typed.format(digits[:3], digits[3:6], digits[6:])

    response = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, number=value))

    assert response.status_code == 200
    assert field_errors(response) == {"number": [{"message": NUMBER_REFUSED, "code": "refused"}]}
    assert_names_nothing_of(tenant_b, response, typed=value)


def test_another_organizations_shared_number_is_refused_the_same_way(as_manager_a, tenant_a, tenant_b):
    response = as_manager_a.post(
        admin_url("phonenumber", "add"), number_data(tenant_a, number=tenant_b.shared_number.number, studio="")
    )

    assert field_errors(response) == {"number": [{"message": NUMBER_REFUSED, "code": "refused"}]}


def test_changing_a_number_to_another_organizations_is_refused_the_same_way(as_manager_a, tenant_a, tenant_b):
    number = tenant_a.number
    taken = tenant_b.number.number

    elsewhere = as_manager_a.post(admin_url("phonenumber", "change", number.pk), number_data(tenant_a, number=taken))
    refused = as_manager_a.post(
        admin_url("phonenumber", "change", number.pk), number_data(tenant_a, number=PREMIUM_RATE)
    )

    assert elsewhere.status_code == refused.status_code == 200
    assert (
        field_errors(elsewhere) == field_errors(refused) == {"number": [{"message": NUMBER_REFUSED, "code": "refused"}]}
    )
    assert page(elsewhere, taken) == page(refused, PREMIUM_RATE)
    assert_names_nothing_of(tenant_b, elsewhere, typed=taken)
    number.refresh_from_db()
    assert number.number != taken


def test_a_number_of_the_managers_own_organization_is_named_as_theirs(as_manager_a, tenant_a, tenant_b):
    """Precise, because it names only what the manager can see on their own list."""
    own = tenant_a.shared_number.number

    response = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, number=own))

    assert response.status_code == 200
    assert field_errors(response)["number"][0]["message"] == f"{own} is already one of your numbers."
    assert_names_nothing_of(tenant_b, response, typed=own)


def test_saving_a_number_unchanged_is_not_refused(as_manager_a, tenant_a):
    number = tenant_a.number

    response = as_manager_a.post(
        admin_url("phonenumber", "change", number.pk), number_data(tenant_a, number=number.number, label="Desk 2")
    )

    assert response.status_code == 302
    number.refresh_from_db()
    assert number.label == "Desk 2"


def test_operators_are_told_why_a_number_is_refused(client, operator, tenant_a, tenant_b):
    client.force_login(operator)
    taken = tenant_b.number.number

    elsewhere = client.post(
        admin_url("phonenumber", "add"), number_data(tenant_a, number=taken, organization=tenant_a.organization.pk)
    )
    premium = client.post(
        admin_url("phonenumber", "add"),
        number_data(tenant_a, number=PREMIUM_RATE, organization=tenant_a.organization.pk),
    )

    assert field_errors(elsewhere)["number"][0]["message"] == (
        f"{taken} is already a number of {tenant_b.organization.name}."
    )
    assert "premium-rate" in field_errors(premium)["number"][0]["message"]


def test_the_service_refuses_another_organizations_number_in_the_same_words(tenant_a, tenant_b):
    with pytest.raises(ValidationError) as refused:
        services.phone_number_check(
            organization=tenant_a.organization, number=tenant_b.number.number, provider="twilio"
        )

    assert refused.value.message_dict == {"number": [NUMBER_REFUSED]}


# --- 2. members -----------------------------------------------------------------------------------------------
def other_organizations_manager(a, b) -> str:
    return b.manager.user.email


def other_organizations_manager_in_capitals(a, b) -> str:
    return b.manager.user.email.upper()


def an_operator(a, b) -> str:
    return UserFactory(email="ops@leadline.test", is_staff=True, is_superuser=True).email


def a_sign_in_without_organization(a, b) -> str:
    return UserFactory(email="loose@example.test").email


def an_inactive_member_elsewhere(a, b) -> str:
    other = OrganizationFactory(slug="gone", name="Gone Gyms", is_active=False)
    return MembershipFactory(organization=other, manager=True, user__email="left@gone.test").user.email


REFUSED_EMAILS = [
    other_organizations_manager_in_capitals,
    an_operator,
    a_sign_in_without_organization,
    an_inactive_member_elsewhere,
]


@pytest.mark.parametrize("refused", REFUSED_EMAILS, ids=lambda f: f.__name__)
def test_another_organizations_member_is_refused_exactly_like_any_other_address_that_cannot_be_added(
    as_manager_a, tenant_a, tenant_b, refused
):
    taken = other_organizations_manager(tenant_a, tenant_b)
    other = refused(tenant_a, tenant_b)
    users_before = User.objects.count()

    elsewhere = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, email=taken))
    refusal = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, email=other))

    assert elsewhere.status_code == refusal.status_code == 200
    assert (
        field_errors(elsewhere) == field_errors(refusal) == {"email": [{"message": EMAIL_REFUSED, "code": "refused"}]}
    )
    assert page(elsewhere, taken) == page(refusal, other)
    assert_names_nothing_of(tenant_b, elsewhere, typed=taken)
    assert User.objects.count() == users_before
    assert Membership.unscoped_objects.get(user__email=taken).organization == tenant_b.organization


def test_a_member_of_the_managers_own_organization_is_named_as_theirs(as_manager_a, tenant_a, tenant_b):
    own = tenant_a.staff.user.email

    response = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, email=own.upper()))

    assert response.status_code == 200
    assert field_errors(response)["email"][0]["message"] == f"{own} is already a member of {tenant_a.organization}."
    assert_names_nothing_of(tenant_b, response, typed=own)


def test_operators_are_told_why_an_address_is_refused(client, operator, tenant_a, tenant_b):
    client.force_login(operator)
    taken = tenant_b.manager.user.email

    response = client.post(
        admin_url("membership", "add"), member_data(tenant_a, email=taken, organization=tenant_a.organization.pk)
    )

    assert field_errors(response)["email"][0]["message"] == (
        f"{taken} is already a member of {tenant_b.organization.name}; a person belongs to one organization."
    )


def test_the_service_refuses_another_organizations_member_in_the_same_words(tenant_a, tenant_b):
    """The last line behind the form (a second tab, a script): the same words, no user created."""
    users_before = User.objects.count()

    with pytest.raises(ValidationError) as refused:
        services.membership_create(
            organization=tenant_a.organization,
            email=tenant_b.manager.user.email,
            role="staff",
            studios=[tenant_a.studio],
        )

    assert refused.value.message_dict == {"email": [EMAIL_REFUSED]}
    assert User.objects.count() == users_before
