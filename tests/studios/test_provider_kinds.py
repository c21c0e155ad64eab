"""Which kinds of provider account are CRM connections is said in studios (below the CRM layer) and by the CRM
registry's providers: the two agree, and a member's CRM user id is only ever on a CRM connection."""

import pytest

from django.core.exceptions import ValidationError

from crm.registry import connection_kinds
from studios import services
from studios.models import MemberCrmUser
from studios.provider_kinds import (
    CREDENTIALS_NEEDED,
    CRM_KINDS,
    DEFAULT_URLS,
    KIND_FIELDS,
    REQUIRED_FIELDS,
    ProviderKind,
)


def test_the_crm_kinds_are_the_kinds_the_registered_crm_providers_serve():
    assert set(CRM_KINDS) == set(connection_kinds()) & set(ProviderKind.values)
    assert CRM_KINDS <= set(connection_kinds())


def test_every_kind_says_its_fields_needs_and_credentials():
    for table in (KIND_FIELDS, REQUIRED_FIELDS, CREDENTIALS_NEEDED, DEFAULT_URLS):
        assert set(table) == set(ProviderKind.values)


@pytest.mark.django_db
def test_a_crm_user_id_is_refused_on_an_account_that_is_not_a_crm(tenant_a):
    with pytest.raises(ValidationError, match="acme-twilio is not a CRM connection"):
        services.member_crm_user_set(membership=tenant_a.staff, connection=tenant_a.twilio, crm_user_id="111")
    link = MemberCrmUser(
        organization=tenant_a.organization, membership=tenant_a.staff, connection=tenant_a.twilio, crm_user_id="111"
    )
    with pytest.raises(ValidationError, match="not a CRM connection"):
        link.full_clean()
