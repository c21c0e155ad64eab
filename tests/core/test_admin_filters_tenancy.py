"""Every list filter of every admin page stays inside the signed-in manager's organization, by construction.

The page tests (tests/studios/test_admin.py, tests/messaging/test_admin.py, ...) check each page's rows. These
walk the admin site's whole registry instead: every registered page is opened as a manager of organization B
while organization A has a row of every kind, and no filter choice, date-hierarchy step, search result or
autocomplete answer may name or link to anything of A. New pages and new filters are covered without a line
added here.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest

from django.contrib import admin as django_admin
from django.contrib.admin import RelatedFieldListFilter, SimpleListFilter
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse
from django.utils import timezone

from automation.models import AutomationStep, LeadIntake, ReplyFollowUp, StudioAutomation
from automation.services.settings import automation_webhook_token_rotate
from core.admin import TenantScopedAdminMixin
from core.models import InboundEvent, User
from core.tenancy import TenantModel
from crm.providers.zoho.models import ZohoConnection
from identity.tokens import widget_token_issue
from messaging.models import CrmTimelineEntry, Message
from studios.models import Organization
from sync.models import SyncRun, SyncSchedule
from tests.links.ops_rows import build as link_rows_build
from tests.messaging.factories import (
    ContactFactory,
    ConversationFactory,
    CrmWriteBackFactory,
    InboundEventFactory,
    MessageFactory,
    MessagingSettingsFactory,
    OptOutEventFactory,
    OptOutFactory,
)

# Organization A's rows all carry its slug ("acme", see tests/conftest.py) in their names, e-mails or modules;
# its dated records are from a year nothing of B's is from.
A_SLUG = "acme"
A_YEAR = 2019

REGISTRY = django_admin.site._registry
TENANT_PAGES = sorted(
    (model._meta.label for model, model_admin in REGISTRY.items() if isinstance(model_admin, TenantScopedAdminMixin)),
)
OTHER_PAGES = sorted(
    model._meta.label for model, model_admin in REGISTRY.items() if not isinstance(model_admin, TenantScopedAdminMixin)
)


def model_of(label: str):
    return next(model for model in REGISTRY if model._meta.label == label)


def changelist_url(label: str) -> str:
    model = model_of(label)
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


# --- a row of every kind in each organization -----------------------------------------------------------------
def populate(tenant, slug: str, *, year: int | None = None) -> None:
    org = tenant.organization
    title = slug.title()
    contact = ContactFactory(organization=org, name=f"{title} Lead")
    conversation = ConversationFactory(studio=tenant.studio, contact=contact)
    ConversationFactory(studio=None, organization=org, contact=ContactFactory(organization=org, name=f"{title} Walk"))
    message = MessageFactory(conversation=conversation, body=f"{title} says yes")
    MessageFactory(conversation=conversation, direction="outbound", body=f"{title} replied", sent_by=tenant.staff)
    opt_out = OptOutFactory(organization=org, reason=f"{title} asked")
    OptOutEventFactory(opt_out=opt_out)
    CrmWriteBackFactory(organization=org, contact=contact)
    CrmTimelineEntry.unscoped_objects.create(organization=org, message=message, crm_record_id=f"{slug}-lead")
    MessagingSettingsFactory(organization=org, crm_opt_out_field=f"{title}_Opt_Out")
    InboundEventFactory(organization=org, idempotency_key=f"{slug}-event")
    automation_webhook_token_rotate(organization=org)
    StudioAutomation.unscoped_objects.create(studio=tenant.studio, follow_up_message=f"{title} follow-up")
    intake = LeadIntake.unscoped_objects.create(
        organization=org,
        connection=tenant.zoho,
        crm_record_id=f"{slug}-lead",
        studio=tenant.other_studio,
        lead_name=f"{title} Prospect",
    )
    AutomationStep.unscoped_objects.create(
        organization=org, lead_intake=intake, step="studio_resolved", outcome="ok", detail=slug, at=timezone.now()
    )
    ReplyFollowUp.unscoped_objects.create(organization=org, studio=tenant.other_studio, message=message)
    ZohoConnection.unscoped_objects.create(
        organization=org, account=tenant.zoho, zoho_org_id=f"{slug}-org", zoho_user_email=f"crm@{slug}.test"
    )
    SyncSchedule.unscoped_objects.create(organization=org, connection=tenant.zoho, object=f"{title}Leads")
    SyncRun.unscoped_objects.create(
        organization=org, connection=tenant.zoho, object=f"{title}Leads", started_at=timezone.now()
    )
    widget_token_issue(membership=tenant.manager)
    link_rows_build(tenant, slug)  # a two-way sync link with a pair, writes, a conflict and a review
    if year is not None:  # A's records are dated in a year of their own, for the date hierarchy
        moment = dt.datetime(year, 6, 1, 12, tzinfo=dt.UTC)
        Message.unscoped_objects.filter(organization=org).update(created_at=moment)
        CrmTimelineEntry.unscoped_objects.filter(organization=org).update(created_at=moment)
        InboundEvent.objects.filter(organization=org).update(received_at=moment)


@pytest.fixture
def world(tenant_a, tenant_b):
    populate(tenant_a, A_SLUG, year=A_YEAR)
    populate(tenant_b, "bolt")
    return tenant_a, tenant_b


@pytest.fixture
def as_manager_b(client, world):
    _tenant_a, tenant_b = world
    client.force_login(tenant_b.manager.user)
    return client


# --- what belongs to A ----------------------------------------------------------------------------------------
def owned_by(organization: Organization, model) -> set:
    """The primary keys of `model`'s rows that belong to `organization` (or to its people, for users)."""
    if issubclass(model, TenantModel):
        return set(model.objects.for_organization(organization).values_list("pk", flat=True))
    if model is User:
        return set(User.objects.filter(membership__organization=organization).values_list("pk", flat=True))
    if model is InboundEvent:
        return set(InboundEvent.objects.filter(organization=organization).values_list("pk", flat=True))
    return set()  # not tenant data (e.g. a permission group)


def names_a(text: str) -> bool:
    return A_SLUG in str(text).lower()


# What a page shows of A's rows (see `populate`), for pages that may echo a typed "acme" back.
A_NAMES = [
    "acme fitness",
    "acme main",
    "acme east",
    "@acme.test",
    "acme-twilio",
    "acme-zoho",
    "acme lead",
    "acme walk",
    "acme says",
    "acme replied",
    "acme asked",
    "acme_opt_out",
    "acme follow-up",
    "acme prospect",
    "acme-lead",
    "acme-event",
    "acme-org",
    "acmeleads",
    "link-acme",
    "acme-hubspot",
]


def shows_a_row(text: str) -> list[str]:
    return [name for name in A_NAMES if name in text.lower()]


def related_model_of(model, lookup: str):
    """The model a filter parameter such as "studio__id__exact" or "studios__pk__in" points into, if any."""
    parts = lookup.split("__")
    for end in range(len(parts), 0, -1):
        try:
            fields = get_fields_from_path(model, "__".join(parts[:end]))
        except (FieldDoesNotExist, NotRelationField):  # a lookup suffix ("exact", "in"), not a field
            continue
        relations = [f for f in fields if f.is_relation]
        if fields[-1].is_relation:
            return fields[-1].related_model
        if relations and fields[-1].primary_key:
            return relations[-1].related_model
        return None
    return None


def assert_links_to_nothing_of(org_a, model, query_string: str) -> None:
    for key, value in parse_qsl(query_string.lstrip("?")):
        related = related_model_of(model, key)
        if related is None:
            continue
        foreign = owned_by(org_a, related)
        values = {v for v in value.split(",") if v}
        assert not {v for v in values if v.isdigit() and int(v) in foreign}, (
            f"{model._meta.label}: filter link {key}={value} points at organization A's {related._meta.label}"
        )


def filter_choices(changelist) -> list[str]:
    return [str(choice["display"]) for spec in changelist.filter_specs for choice in spec.choices(changelist)]


def assert_filters_show_nothing_of(org_a, changelist) -> None:
    """Every choice of every filter of the rendered changelist: its words, its link, and the rows it offers."""
    model = changelist.model
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            display = str(choice["display"])
            assert not names_a(display), f"{model._meta.label}: filter {spec.title!r} offers A's {display!r}"
            assert_links_to_nothing_of(org_a, model, choice["query_string"])
        field = getattr(spec, "field", None)
        if isinstance(spec, RelatedFieldListFilter) and field is not None:
            offered = {pk for pk, _label in spec.lookup_choices}
            leaked = offered & owned_by(org_a, field.related_model)
            assert not leaked, f"{model._meta.label}: filter {spec.title!r} offers A's rows {leaked}"
        if isinstance(spec, SimpleListFilter):
            related = related_model_of(model, spec.parameter_name)
            if related is not None:
                offered = {int(v) for v, _label in spec.lookup_choices if str(v).isdigit()}
                leaked = offered & owned_by(org_a, related)
                assert not leaked, f"{model._meta.label}: filter {spec.title!r} offers A's rows {leaked}"


# --- 1. every page, every filter ------------------------------------------------------------------------------
def test_the_walk_covers_every_tenant_page():
    """The control: the walk below is not vacuous, and the pages that prompted it are in it."""
    assert {"automation.LeadIntake", "automation.ReplyFollowUp", "studios.PhoneNumber"} <= set(TENANT_PAGES)
    assert len(TENANT_PAGES) >= 18


@pytest.mark.parametrize("label", TENANT_PAGES)
def test_no_filter_of_any_page_offers_another_organizations_rows(as_manager_b, world, label):
    tenant_a, _tenant_b = world

    response = as_manager_b.get(changelist_url(label))

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert_filters_show_nothing_of(tenant_a.organization, changelist)
    # The HTML as a whole (filters, facets, columns, links): nothing of A by name.
    assert not names_a(response.content.decode()), f"{label}: the page names organization A"


@pytest.mark.parametrize("label", TENANT_PAGES)
def test_no_filter_offers_another_organizations_rows_with_facet_counts_either(as_manager_b, world, label):
    tenant_a, _tenant_b = world

    response = as_manager_b.get(changelist_url(label), {"_facets": "True"})

    assert response.status_code == 200
    assert_filters_show_nothing_of(tenant_a.organization, response.context["cl"])
    assert not names_a(response.content.decode())


@pytest.mark.parametrize("label", ["automation.LeadIntake", "automation.ReplyFollowUp"])
def test_the_studio_filter_of_the_automation_lists_offers_the_managers_own_studios(as_manager_b, world, label):
    """The pages the issue names: B's studios are there, A's are not."""
    tenant_a, tenant_b = world

    response = as_manager_b.get(changelist_url(label))

    (studio_filter,) = [spec for spec in response.context["cl"].filter_specs if spec.title == "studio"]
    offered = {pk for pk, _name in studio_filter.lookup_choices}
    assert offered == {s.pk for s in (tenant_b.studio, tenant_b.other_studio)}
    assert tenant_b.other_studio.name in response.content.decode()
    assert tenant_a.other_studio.name not in response.content.decode()


@pytest.mark.parametrize("label", ["automation.LeadIntake", "messaging.Message", "studios.PhoneNumber"])
def test_operators_still_see_every_organizations_rows_in_the_filters(client, operator, world, label):
    tenant_a, tenant_b = world
    client.force_login(operator)

    response = client.get(changelist_url(label))

    assert response.status_code == 200
    seen = " ".join(filter_choices(response.context["cl"]))
    assert tenant_a.studio.name in seen or tenant_a.other_studio.name in seen
    assert tenant_b.studio.name in seen or tenant_b.other_studio.name in seen


@pytest.mark.parametrize("label", TENANT_PAGES)
def test_a_typed_filter_for_another_organizations_row_names_nothing_of_it(as_manager_b, world, label):
    """Every relation filter tried with A's row typed into the URL: an empty list, and A is named nowhere."""
    tenant_a, _tenant_b = world
    own = as_manager_b.get(changelist_url(label)).context["cl"]
    tried = 0
    for spec in own.filter_specs:
        field = getattr(spec, "field", None)
        if not isinstance(spec, RelatedFieldListFilter) or field is None:
            continue
        foreign = sorted(owned_by(tenant_a.organization, field.related_model))
        if not foreign:
            continue
        response = as_manager_b.get(changelist_url(label), {spec.lookup_kwarg: foreign[0]})
        tried += 1
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0
        assert not names_a(response.content.decode()), f"{label}: {spec.lookup_kwarg} names organization A"
    if [s for s in own.filter_specs if isinstance(s, RelatedFieldListFilter)]:
        assert tried, "the control: A's rows were typed into at least one relation filter"


# --- 2. search, date hierarchy, autocomplete ------------------------------------------------------------------
@pytest.mark.parametrize("label", TENANT_PAGES)
def test_search_finds_nothing_of_another_organization(as_manager_b, world, label):
    model_admin = REGISTRY[model_of(label)]
    if not model_admin.search_fields:
        pytest.skip("no search on this page")

    response = as_manager_b.get(changelist_url(label), {"q": A_SLUG})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert not shows_a_row(response.content.decode())


@pytest.mark.parametrize("label", sorted(label for label in TENANT_PAGES if REGISTRY[model_of(label)].date_hierarchy))
def test_the_date_hierarchy_offers_only_the_managers_own_dates(as_manager_b, world, label):
    response = as_manager_b.get(changelist_url(label))

    steps = date_hierarchy(response.context["cl"])
    assert steps, "the control: B's own records give the hierarchy its steps"
    assert steps["choices"], "the control: B's own records give the hierarchy its steps"
    for choice in steps["choices"]:
        assert str(A_YEAR) not in f"{choice['title']} {choice.get('link', '')}"

    drilled = as_manager_b.get(changelist_url(label), {f"{REGISTRY[model_of(label)].date_hierarchy}__year": A_YEAR})
    assert drilled.context["cl"].result_count == 0


def autocomplete_cases() -> list[tuple[str, str]]:
    """Every relation of every registered model that the admin's autocomplete endpoint would serve."""
    cases = []
    for model in REGISTRY:
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and (field.many_to_one or field.many_to_many)):
                continue
            if field.related_model in REGISTRY and REGISTRY[field.related_model].search_fields:
                cases.append((model._meta.label, field.name))
    return sorted(cases)


@pytest.mark.parametrize(("label", "field_name"), autocomplete_cases())
def test_autocomplete_answers_with_nothing_of_another_organization(as_manager_b, world, label, field_name):
    tenant_a, _tenant_b = world
    model = model_of(label)
    related = model._meta.get_field(field_name).related_model

    response = as_manager_b.get(
        reverse("admin:autocomplete"),
        {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field_name},
    )

    if not isinstance(REGISTRY[related], TenantScopedAdminMixin):
        assert response.status_code == 403  # operators' pages (users, groups): no answer at all
        return
    assert response.status_code == 200
    results = response.json()["results"]
    assert not {int(r["id"]) for r in results} & owned_by(tenant_a.organization, related)
    assert not [r for r in results if names_a(r["text"])]


# --- 3. who gets a changelist at all --------------------------------------------------------------------------
@pytest.mark.parametrize("label", OTHER_PAGES)
def test_managers_get_no_page_that_is_not_tenant_scoped(as_manager_b, label):
    assert as_manager_b.get(changelist_url(label)).status_code == 403


@pytest.mark.parametrize("label", [*TENANT_PAGES, *OTHER_PAGES])
def test_staff_get_no_changelist_and_so_no_filter(client, world, label):
    """Staff have no admin: the filters of no page reach them."""
    _tenant_a, tenant_b = world
    client.force_login(tenant_b.staff.user)

    response = client.get(changelist_url(label))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


# --- 4. by construction: whatever a page declares -------------------------------------------------------------
class UndeclaredStudioFilter(SimpleListFilter):
    """A custom filter that lists every studio: not declared tenant-scoped, so managers never get it."""

    title = "any studio"
    parameter_name = "any_studio"

    def lookups(self, request, model_admin):
        from studios.models import Studio

        return [(str(s.pk), s.name) for s in Studio.objects.unscoped()]

    def queryset(self, request, queryset):
        return queryset


DECLARED = [
    "status",
    "studio",
    ("studio", RelatedFieldListFilter),
    ("studio", django_admin.RelatedOnlyFieldListFilter),
    "studio__organization",
    "studio__time_zone",
    "message__contact",
    "message__sent_by",
    "message__sent_by__user",
    "organization",
    UndeclaredStudioFilter,
]


@pytest.mark.parametrize("entry", DECLARED, ids=str)
def test_any_list_filter_a_page_declares_is_scoped_for_managers(as_manager_b, world, monkeypatch, entry):
    tenant_a, _tenant_b = world
    tenant_a.other_studio.time_zone = "Asia/Tokyo"
    tenant_a.other_studio.save()
    model_admin = REGISTRY[ReplyFollowUp]
    monkeypatch.setattr(model_admin, "list_filter", ["status", entry])

    response = as_manager_b.get(changelist_url("automation.ReplyFollowUp"))

    assert response.status_code == 200
    assert_filters_show_nothing_of(tenant_a.organization, response.context["cl"])
    content = response.content.decode()
    assert not names_a(content)
    assert "Asia/Tokyo" not in content
    if entry is UndeclaredStudioFilter:
        assert not [s for s in response.context["cl"].filter_specs if isinstance(s, UndeclaredStudioFilter)]


def test_the_admin_checks_name_a_custom_filter_that_is_not_declared_tenant_scoped(monkeypatch):
    model_admin = REGISTRY[ReplyFollowUp]
    monkeypatch.setattr(model_admin, "list_filter", ["status", UndeclaredStudioFilter])

    errors = model_admin.check()

    assert [e.id for e in errors] == ["leadline.E001"]
    assert "UndeclaredStudioFilter" in errors[0].msg


def test_every_registered_page_passes_the_admin_checks():
    errors = [error for model_admin in REGISTRY.values() for error in model_admin.check()]
    assert errors == []
