"""identity.backends.MemberBackend.get_user: the session's user with their membership and organization, one query,
the same objects the ORM's select_related would give."""

from __future__ import annotations

import pytest

from django.db.models import Model

from core.models import User
from identity.backends import MemberBackend
from studios.models import Membership

pytestmark = pytest.mark.django_db


def fields(instance: Model) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.mark.parametrize("who", ["manager", "staff"])
def test_a_member_comes_with_membership_and_organization_in_one_query(tenant_a, who, django_assert_num_queries):
    member = getattr(tenant_a, who)
    expected = User.objects.select_related("membership__organization").get(pk=member.user.pk)
    with django_assert_num_queries(1):
        user = MemberBackend().get_user(str(member.user.pk))  # sessions store the id as text
        assert user.membership.organization.name == tenant_a.organization.name
        assert user.membership.user is user
    assert fields(user) == fields(expected)
    assert fields(user.membership) == fields(expected.membership)
    assert fields(user.membership.organization) == fields(expected.membership.organization)
    assert not user._state.adding  # a loaded row: saving it updates, not inserts
    user.full_name = "Renamed"
    user.save(update_fields=["full_name"])
    assert User.objects.get(pk=member.user.pk).full_name == "Renamed"


def test_an_operator_has_no_membership_and_nothing_more_is_queried(operator, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = MemberBackend().get_user(operator.pk)
        assert user == operator
        with pytest.raises(Membership.DoesNotExist):
            user.membership  # noqa: B018


def test_unknown_malformed_and_inactive_users_are_none(tenant_a):
    backend = MemberBackend()
    assert backend.get_user(10**12) is None
    assert backend.get_user("not-an-id") is None
    tenant_a.staff.user.is_active = False
    tenant_a.staff.user.save(update_fields=["is_active"])
    assert backend.get_user(tenant_a.staff.user.pk) is None
