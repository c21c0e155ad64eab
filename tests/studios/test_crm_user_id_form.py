"""Members' CRM user ids are stored in the one form their CRM gives them, whoever typed them: a Salesforce user id
copied from a page URL in 15 characters is kept in the 18 the API and sign-in use, so sign-in finds the member; an id
that is none of that CRM's is refused with a message; other CRMs' ids are kept as typed."""

from __future__ import annotations

import pytest

from django.core.exceptions import ValidationError

from studios.models import MemberCrmUser, ProviderAccount
from studios.provider_kinds import crm_user_id_clean
from studios.services import member_crm_user_set
from tests.factories import MembershipFactory, OrganizationFactory, ZohoCrmAccountFactory

pytestmark = pytest.mark.django_db

USER_15 = "0055g0000000002"
USER_18 = "0055g0000000002AAA"


def _salesforce(organization) -> ProviderAccount:
    return ProviderAccount.objects.create(
        organization=organization,
        name="summit-salesforce",
        kind="salesforce",
        is_default=True,
        client_id="3MVG9.client",
        accounts_url="https://login.salesforce.com",
    )


def test_every_registered_crm_kind_has_its_user_id_form():
    assert crm_user_id_clean("salesforce", f" {USER_15} ") == USER_18
    assert crm_user_id_clean("zoho_crm", " 4150868000000225002 ") == "4150868000000225002"
    assert crm_user_id_clean("no_such_kind", " 42 ") == "42"


def test_a_15_character_salesforce_id_typed_by_a_manager_is_stored_in_18():
    membership = MembershipFactory()
    connection = _salesforce(membership.organization)
    member_crm_user_set(membership=membership, connection=connection, crm_user_id=USER_15)
    assert MemberCrmUser.objects.for_organization(membership.organization).get().crm_user_id == USER_18


def test_the_same_salesforce_user_in_either_form_is_one_person():
    organization = OrganizationFactory()
    connection = _salesforce(organization)
    first = MembershipFactory(organization=organization)
    second = MembershipFactory(organization=organization)
    member_crm_user_set(membership=first, connection=connection, crm_user_id=USER_18)
    with pytest.raises(ValidationError, match="already"):
        member_crm_user_set(membership=second, connection=connection, crm_user_id=USER_15)


def test_an_id_that_is_no_salesforce_user_id_is_refused_with_a_message_and_nothing_stored():
    membership = MembershipFactory()
    connection = _salesforce(membership.organization)
    with pytest.raises(ValidationError, match="not a Salesforce user id"):
        member_crm_user_set(membership=membership, connection=connection, crm_user_id="00Q5g00000000Kl")
    assert not MemberCrmUser.objects.for_organization(membership.organization).exists()


def test_zoho_ids_are_kept_as_typed():
    membership = MembershipFactory()
    connection = ZohoCrmAccountFactory(organization=membership.organization)
    member_crm_user_set(membership=membership, connection=connection, crm_user_id=" 4150868000000225002 ")
    assert MemberCrmUser.objects.for_organization(membership.organization).get().crm_user_id == "4150868000000225002"
