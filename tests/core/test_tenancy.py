"""Tenancy is enforced in one place: scoped querysets that fail closed."""

import pytest

from django.apps import apps
from django.db import IntegrityError

from core.tenancy import TenantModel, UnscopedQueryError
from studios.models import Membership, Organization, PhoneNumber, ProviderAccount, Studio, StudioAccount
from tests.factories import MembershipFactory, PhoneNumberFactory, StudioFactory

TENANT_MODELS = [m for m in apps.get_models() if issubclass(m, TenantModel)]


def test_every_tenant_model_is_found():
    assert {Organization, Studio, Membership, PhoneNumber, ProviderAccount, StudioAccount} <= set(TENANT_MODELS)


@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_django_internals_use_the_plain_manager_and_application_code_the_scoped_one(model):
    # Unique validation, related managers and deletion go through _default_manager; if `objects` were the
    # default, they would raise. Meta must inherit TenantModel.Meta for this to hold.
    assert model._default_manager.name == "unscoped_objects"
    assert model._base_manager.name == "unscoped_objects"
    assert hasattr(model.objects, "for_organization")


@pytest.mark.parametrize(
    "evaluate",
    [
        list,
        len,
        bool,
        lambda qs: qs.count(),
        lambda qs: qs.exists(),
        lambda qs: qs.first(),
        lambda qs: qs.get(pk=1),
        lambda qs: list(qs.values_list("pk", flat=True)),
        lambda qs: list(qs.iterator()),
        lambda qs: qs.update(name="x"),
        lambda qs: qs.delete(),
        lambda qs: qs.aggregate(n=__import__("django.db.models", fromlist=["Count"]).Count("pk")),
        lambda qs: list(qs.filter(name="x").order_by("pk")[:5]),
    ],
    ids=[
        "list",
        "len",
        "bool",
        "count",
        "exists",
        "first",
        "get",
        "values_list",
        "iterator",
        "update",
        "delete",
        "aggregate",
        "filtered_slice",
    ],
)
def test_an_unscoped_queryset_refuses_to_run(db, evaluate):
    with pytest.raises(UnscopedQueryError, match="without a tenant scope"):
        evaluate(Studio.objects.all())


def test_for_organization_returns_only_that_organizations_rows(tenant_a, tenant_b):
    assert set(Studio.objects.for_organization(tenant_a.organization)) == {tenant_a.studio, tenant_a.other_studio}
    assert set(PhoneNumber.objects.for_organization(tenant_b.organization)) == {
        tenant_b.number,
        tenant_b.shared_number,
    }
    assert list(Organization.objects.for_organization(tenant_a.organization)) == [tenant_a.organization]


def test_for_organization_of_nothing_is_empty(tenant_a):
    assert list(Studio.objects.for_organization(None)) == []
    assert list(Studio.objects.for_organization(Organization())) == []


def test_scope_survives_chaining(tenant_a, tenant_b):
    scoped = Studio.objects.for_organization(tenant_a.organization)
    assert list(scoped.filter(slug=tenant_b.studio.slug)) == []
    assert scoped.exclude(pk=tenant_a.studio.pk).get() == tenant_a.other_studio
    assert list(scoped.values_list("slug", flat=True).order_by("slug")) == ["acme-east", "acme-main"]


def test_manager_sees_every_studio_of_their_organization_only(tenant_a, tenant_b):
    assert set(Studio.objects.visible_to(tenant_a.manager)) == {tenant_a.studio, tenant_a.other_studio}


def test_staff_see_only_their_studios(tenant_a, tenant_b):
    assert list(Studio.objects.visible_to(tenant_a.staff)) == [tenant_a.studio]


def test_staff_see_their_own_and_shared_numbers_but_not_another_studios(tenant_a):
    other_studios_number = PhoneNumberFactory(
        organization=tenant_a.organization, account=tenant_a.twilio, studio=tenant_a.other_studio
    )
    visible = set(PhoneNumber.objects.visible_to(tenant_a.staff))
    assert visible == {tenant_a.number, tenant_a.shared_number}
    assert other_studios_number not in visible


def test_a_shared_number_limited_to_other_studios_is_hidden_from_staff(tenant_a):
    tenant_a.shared_number.shared_with.set([tenant_a.other_studio])
    assert set(PhoneNumber.objects.visible_to(tenant_a.staff)) == {tenant_a.number}
    tenant_a.shared_number.shared_with.add(tenant_a.studio)
    assert set(PhoneNumber.objects.visible_to(tenant_a.staff)) == {tenant_a.number, tenant_a.shared_number}


def test_staff_see_only_themselves_among_members_and_no_provider_accounts(tenant_a):
    assert list(Membership.objects.visible_to(tenant_a.staff)) == [tenant_a.staff]
    assert list(ProviderAccount.objects.visible_to(tenant_a.staff)) == []
    assert set(Membership.objects.visible_to(tenant_a.manager)) == {tenant_a.manager, tenant_a.staff}


@pytest.mark.parametrize("model", [Organization, Studio, Membership, PhoneNumber, ProviderAccount, StudioAccount])
def test_nobody_sees_anything_of_another_organization(tenant_a, tenant_b, model):
    for member in (tenant_a.manager, tenant_a.staff):
        rows = list(model.objects.visible_to(member))
        organization_ids = {row.pk if model is Organization else _organization_id(row) for row in rows}
        assert organization_ids <= {tenant_a.organization.pk}


def _organization_id(row):
    return row.studio.organization_id if isinstance(row, StudioAccount) else row.organization_id


def test_inactive_members_and_no_member_see_nothing(tenant_a):
    tenant_a.manager.is_active = False
    tenant_a.manager.save()
    assert list(Studio.objects.visible_to(tenant_a.manager)) == []
    assert list(Studio.objects.visible_to(None)) == []


def test_a_deactivated_user_sees_nothing_even_with_an_active_membership(tenant_a):
    tenant_a.manager.user.is_active = False
    tenant_a.manager.user.save()
    assert list(Studio.objects.visible_to(tenant_a.manager)) == []


def test_staff_with_studios_in_two_organizations_is_impossible(tenant_a, tenant_b):
    # One membership per user: the tenant of a request is never ambiguous.
    with pytest.raises(IntegrityError):  # the one-to-one user
        MembershipFactory(user=tenant_a.staff.user, organization=tenant_b.organization, studios=[tenant_b.studio])


def test_unscoped_is_explicit_and_sees_everything(tenant_a, tenant_b):
    assert Studio.objects.unscoped().count() == 4
    assert StudioFactory._meta.model.objects.unscoped().filter(organization=tenant_b.organization).count() == 2
