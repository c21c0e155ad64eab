"""The admin keeps every manager inside their own organization.

Each tenant model has five admin pages (changelist, add, change, history, delete). For every one of them these
tests prove that a manager of organization A sees and edits only A, that B's objects are "not found" whatever
URL is typed or POSTed, that form choices and list filters never offer B's rows, that staff and people without
an active manager membership get no admin at all, that secrets are write-only, and that operators see everyone.
"""

import json

import pytest

from django.contrib.admin import site
from django.contrib.messages import get_messages
from django.urls import reverse

from core.admin import TenantScopedAdminMixin
from core.models import User
from studios.models import (
    DEFAULT_HELP_MESSAGE,
    DEFAULT_WELCOME_MESSAGE,
    Membership,
    Organization,
    PhoneNumber,
    ProviderAccount,
    Studio,
    StudioAccount,
)
from studios.selectors import crm_user_id_of
from tests.factories import TEST_PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

MODELS = ["organization", "studio", "membership", "phonenumber", "provideraccount"]
OBJECT_VIEWS = ["change", "history", "delete"]
MODEL_CLASSES = {
    "organization": Organization,
    "studio": Studio,
    "membership": Membership,
    "phonenumber": PhoneNumber,
    "provideraccount": ProviderAccount,
}
# Plaintext secrets the factories store (tests/factories.py).
FACTORY_SECRETS = ["twilio-auth-token-value", "zoho-client-secret-value", "1000.refresh-token-value"]


# --- helpers --------------------------------------------------------------------------------------------------
def admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:studios_{model}_{view}", args=args)


def representative(tenant, model: str):
    """The object of a tenant each object page is tried with."""
    return {
        "organization": tenant.organization,
        "studio": tenant.studio,
        "membership": tenant.staff,
        "phonenumber": tenant.number,
        "provideraccount": tenant.twilio,
    }[model]


def rows(tenant, model: str) -> set[int]:
    """The primary keys of every row a tenant has of a model (the fixtures create no others)."""
    return {
        "organization": {tenant.organization.pk},
        "studio": {tenant.studio.pk, tenant.other_studio.pk},
        "membership": {tenant.manager.pk, tenant.staff.pk},
        "phonenumber": {tenant.number.pk, tenant.shared_number.pk},
        "provideraccount": {tenant.twilio.pk, tenant.zoho.pk},
    }[model]


def markers(tenant) -> list[str]:
    """Strings that only appear in a page if it shows some of the tenant's data."""
    return [
        tenant.organization.name,
        tenant.organization.slug,
        tenant.studio.name,
        tenant.other_studio.name,
        tenant.manager.user.email,
        tenant.staff.user.email,
        tenant.twilio.name,
        tenant.twilio.account_sid,
        tenant.zoho.name,
        tenant.number.number,
        tenant.shared_number.number,
    ]


def assert_shows_nothing_of(tenant, response, *, typed: str = "") -> None:
    """`typed` is what the manager typed themselves (a search term, an email): the page may echo it back."""
    content = response.content.decode()
    leaked = [marker for marker in markers(tenant) if marker in content and marker not in typed]
    assert not leaked, f"the page shows another organization's data: {leaked}"


def assert_not_found(response) -> None:
    """How the admin answers for an object outside its queryset: a warning and a redirect to the index."""
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    # Django's wording: '<model> with ID "<pk>" doesn't exist. Perhaps it was deleted?'
    assert any("Perhaps it was deleted?" in str(message) for message in get_messages(response.wsgi_request))


def assert_redirects_to_login(response) -> None:
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def state(obj) -> dict:
    """Everything stored about an object, read afresh from the database."""
    fresh = type(obj).unscoped_objects.get(pk=obj.pk)
    snapshot = {field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields}
    if isinstance(fresh, Membership):
        snapshot["user"] = (fresh.user.email, fresh.user.full_name, fresh.user.password, fresh.user.is_active)
        snapshot["studios"] = set(fresh.studios.values_list("pk", flat=True))
    if isinstance(fresh, PhoneNumber):
        snapshot["shared_with"] = set(fresh.shared_with.values_list("pk", flat=True))
    if isinstance(fresh, Studio):
        snapshot["accounts"] = set(fresh.accounts.values_list("pk", flat=True))
    return snapshot


def make_room_for(number: str) -> None:
    """Factory numbers run +1415555NNNN; move one aside if the sequence happens to reach the number a test types."""
    PhoneNumber.unscoped_objects.filter(number=number).update(number="+14155559999")


def form(response):
    return response.context["adminform"].form


def errors(response) -> dict:
    return form(response).errors.get_json_data()


def studio_data(*, inline_rows: list[dict] | None = None, initial: int = 0, **overrides) -> dict:
    data = {
        "name": "Acme North",
        "slug": "acme-north",
        "time_zone": "America/Chicago",
        "welcome_message": DEFAULT_WELCOME_MESSAGE,
        "help_message": DEFAULT_HELP_MESSAGE,
        "is_active": "on",
        "studio_accounts-TOTAL_FORMS": str(len(inline_rows or [])),
        "studio_accounts-INITIAL_FORMS": str(initial),
        "studio_accounts-MIN_NUM_FORMS": "0",
        "studio_accounts-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(inline_rows or []):
        data.update({f"studio_accounts-{index}-{key}": value for key, value in row.items()})
    data.update(overrides)
    return data


def number_data(tenant, **overrides) -> dict:
    data = {
        "number": "+1 415 555 0199",
        "provider": "twilio",
        "account": tenant.twilio.pk,
        "studio": tenant.studio.pk,
        "label": "Front desk",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def crm_field(connection: ProviderAccount) -> str:
    """The member page's field for the member's CRM user id on `connection`."""
    return f"crm_user_id_{connection.pk}"


def member_data(tenant, **overrides) -> dict:
    data = {
        "email": "new.person@acme.test",
        "full_name": "New Person",
        "role": "staff",
        "studios": [tenant.studio.pk],
        crm_field(tenant.zoho): "",
        "is_active": "on",
        "password": "",
    }
    data.update(overrides)
    return data


def twilio_data(account: ProviderAccount, **overrides) -> dict:
    data = {
        "name": account.name,
        "kind": "twilio",
        "is_default": "on" if account.is_default else "",
        "account_sid": account.account_sid,
        "auth_token": "",
        "api_base_url": account.api_base_url,
        "client_id": "",
        "client_secret": "",
        "refresh_token": "",
        "accounts_url": "",
        "api_domain": "",
    }
    data.update(overrides)
    return data


def zoho_data(account: ProviderAccount, **overrides) -> dict:
    data = {
        "name": account.name,
        "kind": "zoho_crm",
        "is_default": "on" if account.is_default else "",
        "account_sid": "",
        "auth_token": "",
        "api_base_url": "",
        "client_id": account.client_id,
        "client_secret": "",
        "refresh_token": "",
        "accounts_url": account.accounts_url,
        "api_domain": account.api_domain,
    }
    data.update(overrides)
    return data


def hijack_data(tenant_a, tenant_b, model: str) -> dict:
    """A valid-looking edit of B's representative object, as a manager of A might type it."""
    return {
        "organization": {"name": "Hijacked", "slug": "hijacked", "is_active": ""},
        "studio": studio_data(name="Hijacked", slug=tenant_b.studio.slug, organization=tenant_a.organization.pk),
        "membership": member_data(
            tenant_b, email=tenant_b.staff.user.email, full_name="Hijacked", role="manager", studios=[], is_active=""
        ),
        "phonenumber": number_data(tenant_b, number=tenant_b.number.number, label="Hijacked", is_active=""),
        "provideraccount": twilio_data(tenant_b.twilio, name="hijacked", auth_token="attacker-token"),
    }[model]


@pytest.fixture
def as_manager_a(client, tenant_a, tenant_b):
    """A client signed in as A's manager, with B's organization present to leak from."""
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def as_operator(client, operator, tenant_a, tenant_b):
    client.force_login(operator)
    return client


# --- 1. Changelists and object pages stay inside the manager's organization ----------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_a_manager_sees_only_their_own_organizations_rows_on_every_changelist(as_manager_a, tenant_a, tenant_b, model):
    response = as_manager_a.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert {obj.pk for obj in changelist.result_list} == rows(tenant_a, model)
    assert changelist.result_count == len(rows(tenant_a, model))
    assert changelist.full_result_count == len(rows(tenant_a, model))
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("organization", lambda t: t.organization.name),
        ("studio", lambda t: t.studio.name),
        ("membership", lambda t: t.staff.user.email),
        ("phonenumber", lambda t: t.number.number),
        ("provideraccount", lambda t: t.twilio.name),
    ],
)
def test_each_changelist_shows_the_managers_own_rows(as_manager_a, tenant_a, model, shown):
    response = as_manager_a.get(admin_url(model, "changelist"))

    assert shown(tenant_a) in response.content.decode()


@pytest.mark.parametrize(
    ("model", "search_for"),
    [
        ("organization", lambda b: b.organization.slug),
        ("studio", lambda b: b.studio.name),
        ("membership", lambda b: b.manager.user.email),
        ("phonenumber", lambda b: b.number.number),
        ("provideraccount", lambda b: b.twilio.account_sid),
    ],
)
def test_searching_a_changelist_never_finds_another_organizations_rows(as_manager_a, tenant_b, model, search_for):
    term = search_for(tenant_b)

    response = as_manager_a.get(admin_url(model, "changelist"), {"q": term})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert_shows_nothing_of(tenant_b, response, typed=term)


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        ("organization", "id__exact"),
        ("studio", "organization__id__exact"),
        ("membership", "organization__id__exact"),
        ("phonenumber", "organization__id__exact"),
        ("provideraccount", "organization__id__exact"),
    ],
)
def test_a_typed_filter_for_another_organization_shows_an_empty_changelist(as_manager_a, tenant_b, model, lookup):
    response = as_manager_a.get(admin_url(model, "changelist"), {lookup: tenant_b.organization.pk})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("view", OBJECT_VIEWS)
@pytest.mark.parametrize("model", MODELS)
def test_another_organizations_objects_are_not_found_by_typed_urls(as_manager_a, tenant_b, model, view):
    obj = representative(tenant_b, model)

    response = as_manager_a.get(admin_url(model, view, obj.pk))

    if (model, view) == ("organization", "delete"):
        assert response.status_code == 403  # managers never delete organizations, not even their own
    else:
        assert_not_found(response)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("view", OBJECT_VIEWS)
@pytest.mark.parametrize("model", MODELS)
def test_the_same_pages_open_for_the_managers_own_objects(as_manager_a, tenant_a, tenant_b, model, view):
    """The control for the test above: 'not found' is about the tenant, not a page that is broken for all."""
    obj = representative(tenant_a, model)

    response = as_manager_a.get(admin_url(model, view, obj.pk))

    if (model, view) == ("organization", "delete"):
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("model", MODELS)
def test_posting_to_another_organizations_change_url_changes_nothing(as_manager_a, tenant_a, tenant_b, model):
    obj = representative(tenant_b, model)
    before = state(obj)

    response = as_manager_a.post(admin_url(model, "change", obj.pk), hijack_data(tenant_a, tenant_b, model))

    assert_not_found(response)
    assert state(obj) == before


@pytest.mark.parametrize("model", MODELS)
def test_confirming_the_deletion_of_another_organizations_object_deletes_nothing(as_manager_a, tenant_b, model):
    obj = representative(tenant_b, model)
    before = state(obj)

    response = as_manager_a.post(admin_url(model, "delete", obj.pk), {"post": "yes"})

    if model == "organization":
        assert response.status_code == 403
    else:
        assert_not_found(response)
    assert state(obj) == before


@pytest.mark.parametrize("model", MODELS)
def test_the_bulk_delete_action_cannot_reach_another_organizations_rows(as_manager_a, tenant_b, model):
    targets = rows(tenant_b, model)

    response = as_manager_a.post(
        admin_url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": sorted(targets), "post": "yes"},
    )

    if model in ("organization", "membership"):
        assert response.status_code == 200  # managers have no bulk delete here at all: "no action selected"
    else:
        assert response.status_code == 302  # B's rows are filtered out: "items must be selected"
        assert response.url == admin_url(model, "changelist")
    assert MODEL_CLASSES[model].unscoped_objects.filter(pk__in=targets).count() == len(targets)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize(
    ("model", "field", "related"),
    [
        ("phonenumber", "studio", "studio"),
        ("phonenumber", "shared_with", "studio"),
        ("phonenumber", "account", "provideraccount"),
        ("phonenumber", "organization", "organization"),
        ("membership", "studios", "studio"),
        ("membership", "organization", "organization"),
        ("studio", "organization", "organization"),
        ("provideraccount", "organization", "organization"),
    ],
)
def test_autocomplete_answers_only_with_the_managers_own_objects(
    as_manager_a, tenant_a, tenant_b, model, field, related
):
    """The admin's autocomplete endpoint serves any FK/M2M of a registered model, widget or not."""
    response = as_manager_a.get(
        reverse("admin:autocomplete"), {"app_label": "studios", "model_name": model, "field_name": field, "term": ""}
    )

    assert response.status_code == 200
    answered = {int(result["id"]) for result in json.loads(response.content)["results"]}
    assert answered == rows(tenant_a, related)
    assert_shows_nothing_of(tenant_b, response)


# --- 2. Form choices, list filters and tampered POSTs ---------------------------------------------------------
def organization_choices(tenant):
    return {tenant.organization}


def studio_choices(tenant):
    return {tenant.studio, tenant.other_studio}


def account_choices(tenant):
    return {tenant.twilio, tenant.zoho}


FORM_CHOICES = [
    ("studio", "organization", organization_choices),
    ("phonenumber", "organization", organization_choices),
    ("phonenumber", "account", account_choices),
    ("phonenumber", "studio", studio_choices),
    ("phonenumber", "shared_with", studio_choices),
    ("membership", "organization", organization_choices),
    ("membership", "studios", studio_choices),
    ("provideraccount", "organization", organization_choices),
]


@pytest.mark.parametrize(("model", "field", "expected"), FORM_CHOICES)
def test_add_form_choices_list_only_the_managers_organization(as_manager_a, tenant_a, tenant_b, model, field, expected):
    response = as_manager_a.get(admin_url(model, "add"))

    assert response.status_code == 200
    assert set(form(response).fields[field].queryset) == expected(tenant_a)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize(("model", "field", "expected"), FORM_CHOICES)
def test_change_form_choices_list_only_the_managers_organization(
    as_manager_a, tenant_a, tenant_b, model, field, expected
):
    response = as_manager_a.get(admin_url(model, "change", representative(tenant_a, model).pk))

    assert response.status_code == 200
    assert set(form(response).fields[field].queryset) == expected(tenant_a)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("model", ["studio", "phonenumber", "membership", "provideraccount"])
def test_the_organization_field_is_fixed_to_the_managers_own(as_manager_a, tenant_a, model):
    response = as_manager_a.get(admin_url(model, "add"))

    organization = form(response).fields["organization"]
    assert organization.disabled
    assert organization.initial == tenant_a.organization.pk


@pytest.mark.parametrize("page", ["add", "change"])
def test_the_studio_inline_offers_only_the_managers_own_accounts(as_manager_a, tenant_a, tenant_b, page):
    url = admin_url("studio", "add") if page == "add" else admin_url("studio", "change", tenant_a.studio.pk)

    response = as_manager_a.get(url)

    (inline,) = response.context["inline_admin_formsets"]
    assert set(inline.formset.empty_form.fields["account"].queryset) == account_choices(tenant_a)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize(
    ("model", "parameter"), [("phonenumber", "studio__id__exact"), ("membership", "studios__id__exact")]
)
def test_the_studio_list_filter_shows_only_the_managers_own_studios(as_manager_a, tenant_a, tenant_b, model, parameter):
    response = as_manager_a.get(admin_url(model, "changelist"))

    (studio_filter,) = [
        spec for spec in response.context["cl"].filter_specs if spec.field_path in ("studio", "studios")
    ]
    offered = {pk for pk, _name in studio_filter.lookup_choices}
    assert offered == {tenant_a.studio.pk}  # the only studio with a number / a staff member in A
    assert_shows_nothing_of(tenant_b, response)
    assert f"{parameter}={tenant_a.studio.pk}" in response.content.decode()
    assert f"{parameter}={tenant_b.studio.pk}" not in response.content.decode()


def test_the_time_zone_filter_lists_only_the_managers_own_studios_zones(as_manager_a, tenant_b):
    tenant_b.other_studio.time_zone = "Asia/Tokyo"
    tenant_b.other_studio.save()

    response = as_manager_a.get(admin_url("studio", "changelist"))

    (time_zone_filter,) = [spec for spec in response.context["cl"].filter_specs if spec.field_path == "time_zone"]
    assert list(time_zone_filter.lookup_choices) == ["America/New_York"]
    assert "Asia/Tokyo" not in response.content.decode()


@pytest.mark.parametrize("model", ["studio", "phonenumber", "membership", "provideraccount"])
def test_managers_get_no_organization_filter_or_column(as_manager_a, model):
    response = as_manager_a.get(admin_url(model, "changelist"))

    changelist = response.context["cl"]
    assert "organization" not in changelist.list_display
    assert not [spec for spec in changelist.filter_specs if getattr(spec, "field_path", None) == "organization"]


@pytest.mark.parametrize("model", ["studio", "phonenumber", "membership", "provideraccount"])
def test_operators_get_the_organization_filter_listing_both_organizations(as_operator, tenant_a, tenant_b, model):
    response = as_operator.get(admin_url(model, "changelist"))

    (organization_filter,) = [
        spec for spec in response.context["cl"].filter_specs if getattr(spec, "field_path", None) == "organization"
    ]
    offered = {pk for pk, _name in organization_filter.lookup_choices}
    assert {tenant_a.organization.pk, tenant_b.organization.pk} <= offered


def test_a_studio_added_with_another_organization_in_the_post_lands_in_the_managers(as_manager_a, tenant_a, tenant_b):
    response = as_manager_a.post(admin_url("studio", "add"), studio_data(organization=tenant_b.organization.pk))

    assert response.status_code == 302
    studio = Studio.unscoped_objects.get(slug="acme-north")
    assert studio.organization == tenant_a.organization
    assert not Studio.unscoped_objects.filter(organization=tenant_b.organization, slug="acme-north").exists()


def test_editing_a_studio_cannot_move_it_to_another_organization(as_manager_a, tenant_a, tenant_b):
    studio = tenant_a.other_studio

    response = as_manager_a.post(
        admin_url("studio", "change", studio.pk),
        studio_data(name="Acme East Renamed", slug=studio.slug, organization=tenant_b.organization.pk),
    )

    assert response.status_code == 302
    studio.refresh_from_db()
    assert studio.name == "Acme East Renamed"
    assert studio.organization == tenant_a.organization


def test_a_studio_cannot_be_linked_to_another_organizations_account(as_manager_a, tenant_a, tenant_b):
    studio = tenant_a.other_studio
    before = state(studio)

    response = as_manager_a.post(
        admin_url("studio", "change", studio.pk),
        studio_data(
            name=studio.name, slug=studio.slug, inline_rows=[{"studio": studio.pk, "account": tenant_b.twilio.pk}]
        ),
    )

    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert "account" in inline.formset.errors[0]
    assert state(studio) == before
    assert not StudioAccount.unscoped_objects.filter(account=tenant_b.twilio).exists()


def test_a_manager_can_link_and_unlink_a_studios_own_account(as_manager_a, tenant_a):
    studio = tenant_a.other_studio
    url = admin_url("studio", "change", studio.pk)

    linked = as_manager_a.post(
        url,
        studio_data(
            name=studio.name, slug=studio.slug, inline_rows=[{"studio": studio.pk, "account": tenant_a.twilio.pk}]
        ),
    )
    assert linked.status_code == 302
    link = StudioAccount.unscoped_objects.get(studio=studio)
    assert link.account == tenant_a.twilio

    page = as_manager_a.get(url)
    (inline,) = page.context["inline_admin_formsets"]
    assert inline.has_change_permission
    assert inline.has_delete_permission

    unlinked = as_manager_a.post(
        url,
        studio_data(
            name=studio.name,
            slug=studio.slug,
            initial=1,
            inline_rows=[{"id": link.pk, "studio": studio.pk, "account": tenant_a.twilio.pk, "DELETE": "on"}],
        ),
    )
    assert unlinked.status_code == 302
    assert not StudioAccount.unscoped_objects.filter(studio=studio).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("studio", lambda b: b.studio.pk),
        ("account", lambda b: b.twilio.pk),
        ("shared_with", lambda b: [b.studio.pk]),
    ],
)
def test_a_number_cannot_point_at_another_organizations_studio_or_account(
    as_manager_a, tenant_a, tenant_b, field, value
):
    data = number_data(tenant_a, **{field: value(tenant_b)})
    if field == "shared_with":
        data["studio"] = ""

    response = as_manager_a.post(admin_url("phonenumber", "add"), data)

    assert response.status_code == 200
    assert "Select a valid choice" in str(errors(response)[field])
    assert not PhoneNumber.unscoped_objects.filter(number="+14155550199").exists()


def test_a_number_added_with_another_organization_in_the_post_lands_in_the_managers(as_manager_a, tenant_a, tenant_b):
    make_room_for("+14155550199")

    response = as_manager_a.post(
        admin_url("phonenumber", "add"), number_data(tenant_a, organization=tenant_b.organization.pk)
    )

    assert response.status_code == 302
    assert PhoneNumber.unscoped_objects.get(number="+14155550199").organization == tenant_a.organization


def test_moving_a_number_to_another_organizations_studio_is_refused(as_manager_a, tenant_a, tenant_b):
    number = tenant_a.number
    before = state(number)

    response = as_manager_a.post(
        admin_url("phonenumber", "change", number.pk),
        number_data(tenant_a, number=number.number, studio=tenant_b.studio.pk, organization=tenant_b.organization.pk),
    )

    assert response.status_code == 200
    assert "studio" in errors(response)
    assert state(number) == before


def test_a_member_cannot_be_added_to_another_organizations_studio(as_manager_a, tenant_a, tenant_b):
    response = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, studios=[tenant_b.studio.pk]))

    assert response.status_code == 200
    assert "studios" in errors(response)
    assert not User.objects.filter(email="new.person@acme.test").exists()


def test_a_member_added_with_another_organization_in_the_post_lands_in_the_managers(as_manager_a, tenant_a, tenant_b):
    response = as_manager_a.post(
        admin_url("membership", "add"), member_data(tenant_a, organization=tenant_b.organization.pk)
    )

    assert response.status_code == 302
    membership = Membership.unscoped_objects.get(user__email="new.person@acme.test")
    assert membership.organization == tenant_a.organization


def test_a_staff_member_cannot_be_moved_to_another_organizations_studio(as_manager_a, tenant_a, tenant_b):
    staff = tenant_a.staff
    before = state(staff)

    response = as_manager_a.post(
        admin_url("membership", "change", staff.pk),
        member_data(
            tenant_a, email=staff.user.email, studios=[tenant_b.studio.pk], organization=tenant_b.organization.pk
        ),
    )

    assert response.status_code == 200
    assert "studios" in errors(response)
    assert state(staff) == before


def test_a_provider_account_cannot_be_moved_to_another_organization(as_manager_a, tenant_a, tenant_b):
    account = tenant_a.twilio

    response = as_manager_a.post(
        admin_url("provideraccount", "change", account.pk),
        twilio_data(account, name="acme-twilio-renamed", organization=tenant_b.organization.pk),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "acme-twilio-renamed"
    assert account.organization == tenant_a.organization


def test_a_provider_account_added_with_another_organization_in_the_post_lands_in_the_managers(
    as_manager_a, tenant_a, tenant_b
):
    template = ProviderAccount(name="acme-voice-twilio", account_sid="AC123", api_base_url="https://api.twilio.com")

    response = as_manager_a.post(
        admin_url("provideraccount", "add"),
        twilio_data(template, auth_token="a-brand-new-token", organization=tenant_b.organization.pk),
    )

    assert response.status_code == 302
    account = ProviderAccount.unscoped_objects.get(name="acme-voice-twilio")
    assert account.organization == tenant_a.organization
    assert account.auth_token.reveal() == "a-brand-new-token"


# --- 3. No admin for anyone but active managers and operators -------------------------------------------------
def staff_member(tenant):
    return tenant.staff.user


def user_without_membership(tenant):
    return UserFactory(email="nobody@acme.test")


def inactive_manager(tenant):
    return MembershipFactory(organization=tenant.organization, manager=True, is_active=False).user


def manager_of_inactive_organization(tenant):
    organization = OrganizationFactory(slug="closed", is_active=False)
    return MembershipFactory(organization=organization, manager=True).user


def manager_whose_sign_in_is_disabled(tenant):
    user = tenant.manager.user
    user.is_active = False
    user.save()
    return user


NO_ACCESS = [
    staff_member,
    user_without_membership,
    inactive_manager,
    manager_of_inactive_organization,
    manager_whose_sign_in_is_disabled,
]
EVERY_ADMIN_LIST = [reverse("admin:index")] + [admin_url(model, "changelist") for model in MODELS]


@pytest.mark.parametrize("who", NO_ACCESS, ids=lambda f: f.__name__)
def test_people_who_are_not_active_managers_get_no_admin_at_all(client, tenant_a, tenant_b, who):
    client.force_login(who(tenant_a))

    for url in [*EVERY_ADMIN_LIST, admin_url("studio", "add"), admin_url("studio", "change", tenant_a.studio.pk)]:
        assert_redirects_to_login(client.get(url))


@pytest.mark.parametrize("who", NO_ACCESS, ids=lambda f: f.__name__)
def test_people_who_are_not_active_managers_cannot_write_through_the_admin(client, tenant_a, tenant_b, who):
    client.force_login(who(tenant_a))
    studio_before = state(tenant_a.studio)
    number_before = state(tenant_a.number)

    assert_redirects_to_login(client.post(admin_url("studio", "add"), studio_data()))
    assert_redirects_to_login(client.post(admin_url("studio", "delete", tenant_a.studio.pk), {"post": "yes"}))
    assert_redirects_to_login(
        client.post(admin_url("phonenumber", "change", tenant_a.number.pk), number_data(tenant_a, label="Changed"))
    )

    assert not Studio.unscoped_objects.filter(slug="acme-north").exists()
    assert state(tenant_a.studio) == studio_before
    assert state(tenant_a.number) == number_before


@pytest.mark.parametrize("who", NO_ACCESS, ids=lambda f: f.__name__)
def test_people_who_are_not_active_managers_cannot_sign_in_to_the_admin(client, tenant_a, who):
    user = who(tenant_a)

    response = client.post(reverse("admin:login"), {"username": user.email, "password": TEST_PASSWORD})

    assert response.status_code == 200  # the login form again, with an error
    assert "_auth_user_id" not in client.session


def test_a_manager_signs_in_to_the_admin_with_their_password(client, tenant_a):
    response = client.post(reverse("admin:login"), {"username": tenant_a.manager.user.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tenant_a.manager.user.pk)
    assert client.get(reverse("admin:index")).status_code == 200


def test_an_operator_signs_in_to_the_admin_with_their_password(client, operator):
    response = client.post(reverse("admin:login"), {"username": operator.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


# --- 4. A manager creates and edits in their own organization -------------------------------------------------
def test_a_manager_adds_a_studio_to_their_organization(as_manager_a, tenant_a):
    response = as_manager_a.post(admin_url("studio", "add"), studio_data())

    assert response.status_code == 302
    assert response.url == admin_url("studio", "changelist")
    studio = Studio.objects.for_organization(tenant_a.organization).get(slug="acme-north")
    assert (studio.name, studio.time_zone) == ("Acme North", "America/Chicago")


def test_a_manager_adds_a_number_which_is_stored_in_e164(as_manager_a, tenant_a):
    make_room_for("+14155550199")

    response = as_manager_a.post(
        admin_url("phonenumber", "add"), number_data(tenant_a, studio="", shared_with=[tenant_a.other_studio.pk])
    )

    assert response.status_code == 302
    number = PhoneNumber.objects.for_organization(tenant_a.organization).get(label="Front desk")
    assert number.number == "+14155550199"
    assert number.is_shared
    assert set(number.shared_with.all()) == {tenant_a.other_studio}


def test_a_number_without_its_country_code_is_refused_with_a_clear_message(as_manager_a, tenant_a):
    response = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, number="4155550199"))

    assert response.status_code == 200
    assert "not in E.164 format: start with + and the country code" in str(errors(response)["number"])
    assert "start with + and the country code" in response.content.decode()
    assert not PhoneNumber.unscoped_objects.filter(label="Front desk").exists()


def test_a_number_with_an_account_of_the_wrong_kind_is_refused(as_manager_a, tenant_a):
    response = as_manager_a.post(admin_url("phonenumber", "add"), number_data(tenant_a, account=tenant_a.zoho.pk))

    assert response.status_code == 200
    assert "account" in errors(response)


def test_an_owned_number_cannot_also_list_studios_it_is_shared_with(as_manager_a, tenant_a):
    response = as_manager_a.post(
        admin_url("phonenumber", "add"), number_data(tenant_a, shared_with=[tenant_a.other_studio.pk])
    )

    assert response.status_code == 200
    assert "shared_with" in errors(response)


def test_a_manager_adds_a_member_which_creates_their_sign_in(as_manager_a, tenant_a, client):
    response = as_manager_a.post(
        admin_url("membership", "add"),
        member_data(tenant_a, email="New.Person@ACME.test", password="a-long-and-unusual-password"),
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@acme.test")
    assert user.full_name == "New Person"
    assert user.check_password("a-long-and-unusual-password")
    membership = user.membership
    assert (membership.organization, membership.role, membership.is_active) == (tenant_a.organization, "staff", True)
    assert set(membership.studios.all()) == {tenant_a.studio}


def test_a_member_added_as_manager_gets_no_studios(as_manager_a, tenant_a):
    response = as_manager_a.post(
        admin_url("membership", "add"), member_data(tenant_a, role="manager", studios=[tenant_a.studio.pk])
    )

    assert response.status_code == 302
    membership = Membership.objects.for_organization(tenant_a.organization).get(user__email="new.person@acme.test")
    assert membership.is_manager
    assert not membership.studios.exists()


def test_a_staff_member_without_a_studio_is_refused(as_manager_a, tenant_a):
    response = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, studios=[]))

    assert response.status_code == 200
    assert "works in at least one studio" in str(errors(response)["studios"])
    assert not User.objects.filter(email="new.person@acme.test").exists()


@pytest.mark.parametrize(
    ("email", "refusal"),
    [
        (lambda a, b: a.staff.user.email, "staff@acme.test is already a member of Acme Fitness."),
        (lambda a, b: a.staff.user.email.upper(), "staff@acme.test is already a member of Acme Fitness."),
        # Names nothing of the other organization (tests/studios/test_admin_enumeration.py).
        (lambda a, b: b.manager.user.email, "This email address cannot be added. Contact support if it is yours."),
    ],
    ids=["same-organization", "different-case", "other-organization"],
)
def test_a_member_with_an_email_already_in_use_is_refused(as_manager_a, tenant_a, tenant_b, email, refusal):
    users_before = User.objects.count()

    response = as_manager_a.post(admin_url("membership", "add"), member_data(tenant_a, email=email(tenant_a, tenant_b)))

    assert response.status_code == 200
    assert [error["message"] for error in errors(response)["email"]] == [refusal]
    assert User.objects.count() == users_before


def test_a_manager_edits_a_staff_member(as_manager_a, tenant_a):
    staff = tenant_a.staff

    response = as_manager_a.post(
        admin_url("membership", "change", staff.pk),
        member_data(
            tenant_a,
            email="ignored@acme.test",
            full_name="Renamed Person",
            studios=[tenant_a.studio.pk, tenant_a.other_studio.pk],
            **{crm_field(tenant_a.zoho): "4150868000000225013"},
        ),
    )

    assert response.status_code == 302
    staff.refresh_from_db()
    staff.user.refresh_from_db()
    assert staff.user.email == "staff@acme.test"  # the email of an existing member is not editable
    assert staff.user.full_name == "Renamed Person"
    assert crm_user_id_of(membership=staff, connection=tenant_a.zoho) == "4150868000000225013"
    assert set(staff.studios.all()) == {tenant_a.studio, tenant_a.other_studio}


def test_a_blank_secret_keeps_the_stored_one_when_an_account_is_edited(as_manager_a, tenant_a):
    twilio, zoho = tenant_a.twilio, tenant_a.zoho

    renamed_twilio = as_manager_a.post(
        admin_url("provideraccount", "change", twilio.pk), twilio_data(twilio, name="acme-twilio-2", auth_token="")
    )
    renamed_zoho = as_manager_a.post(
        admin_url("provideraccount", "change", zoho.pk),
        zoho_data(zoho, client_id="1000.OTHERID", client_secret="", refresh_token=""),
    )

    assert renamed_twilio.status_code == 302
    assert renamed_zoho.status_code == 302
    twilio.refresh_from_db()
    zoho.refresh_from_db()
    assert twilio.name == "acme-twilio-2"
    assert twilio.auth_token.reveal() == "twilio-auth-token-value"
    assert zoho.client_id == "1000.OTHERID"
    assert zoho.client_secret.reveal() == "zoho-client-secret-value"
    assert zoho.refresh_token.reveal() == "1000.refresh-token-value"


def test_a_new_secret_replaces_the_stored_one(as_manager_a, tenant_a):
    twilio, zoho = tenant_a.twilio, tenant_a.zoho

    as_manager_a.post(
        admin_url("provideraccount", "change", twilio.pk), twilio_data(twilio, auth_token="new-twilio-token")
    )
    as_manager_a.post(
        admin_url("provideraccount", "change", zoho.pk),
        zoho_data(zoho, client_secret="new-zoho-secret", refresh_token=""),
    )

    twilio.refresh_from_db()
    zoho.refresh_from_db()
    assert twilio.auth_token.reveal() == "new-twilio-token"
    assert zoho.client_secret.reveal() == "new-zoho-secret"
    assert zoho.refresh_token.reveal() == "1000.refresh-token-value"


@pytest.mark.parametrize("who", ["manager", "operator"])
def test_no_admin_page_ever_shows_a_secret(client, tenant_a, tenant_b, operator, who):
    client.force_login(tenant_a.manager.user if who == "manager" else operator)
    twilio, zoho = tenant_a.twilio, tenant_a.zoho
    client.post(admin_url("provideraccount", "change", twilio.pk), twilio_data(twilio, auth_token="fresh-twilio-token"))
    secrets = [*FACTORY_SECRETS, "fresh-twilio-token"]

    pages = [
        admin_url("provideraccount", "changelist"),
        admin_url("provideraccount", "add"),
        admin_url("provideraccount", "change", twilio.pk),
        admin_url("provideraccount", "change", zoho.pk),
        admin_url("provideraccount", "history", twilio.pk),
        admin_url("provideraccount", "delete", twilio.pk),
        admin_url("provideraccount", "delete", zoho.pk),
        reverse("admin:index"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        shown = [secret for secret in secrets if secret in response.content.decode()]
        assert not shown, f"{url} shows {shown}"


def test_a_form_sent_back_with_an_error_does_not_echo_the_new_secret(as_manager_a, tenant_a):
    twilio = tenant_a.twilio

    response = as_manager_a.post(
        admin_url("provideraccount", "change", twilio.pk),
        twilio_data(twilio, account_sid="not-a-sid", auth_token="typed-but-not-saved"),
    )

    assert response.status_code == 200
    assert "account_sid" in errors(response)
    assert "typed-but-not-saved" not in response.content.decode()
    twilio.refresh_from_db()
    assert twilio.auth_token.reveal() == "twilio-auth-token-value"


def test_the_secret_inputs_say_a_value_is_stored_without_showing_it(as_manager_a, tenant_a):
    response = as_manager_a.get(admin_url("provideraccount", "change", tenant_a.twilio.pk))

    auth_token = form(response)["auth_token"]
    assert auth_token.value() in (None, "")
    assert 'type="password"' in str(auth_token)
    assert "stored (type to replace)" in str(auth_token)


# --- 5. The last active manager stays -------------------------------------------------------------------------
def own_membership_data(tenant, **overrides) -> dict:
    """The manager's own membership form as it is, with `overrides` typed in."""
    manager = tenant.manager
    data = member_data(
        tenant,
        email=manager.user.email,
        full_name=manager.user.full_name,
        role="manager",
        studios=[],
        **{crm_field(tenant.zoho): crm_user_id_of(membership=manager, connection=tenant.zoho)},
    )
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "change",
    [
        lambda a: {"role": "staff", "studios": [a.studio.pk]},
        lambda a: {"is_active": ""},
        lambda a: {"role": "staff", "studios": [a.studio.pk], "is_active": ""},
    ],
    ids=["demote", "deactivate", "both"],
)
def test_the_last_active_manager_cannot_demote_or_deactivate_themselves(as_manager_a, tenant_a, change):
    manager = tenant_a.manager
    before = state(manager)

    response = as_manager_a.post(
        admin_url("membership", "change", manager.pk), own_membership_data(tenant_a, **change(tenant_a))
    )

    assert response.status_code == 200
    assert "is the last active manager of Acme Fitness" in str(form(response).non_field_errors())
    assert "is the last active manager of Acme Fitness" in response.content.decode()
    assert state(manager) == before


def test_an_inactive_second_manager_does_not_count(as_manager_a, tenant_a):
    MembershipFactory(organization=tenant_a.organization, manager=True, is_active=False)

    response = as_manager_a.post(
        admin_url("membership", "change", tenant_a.manager.pk), own_membership_data(tenant_a, is_active="")
    )

    assert response.status_code == 200
    assert "last active manager" in str(form(response).non_field_errors())


def test_a_manager_may_step_down_once_another_active_manager_exists(as_manager_a, tenant_a):
    MembershipFactory(organization=tenant_a.organization, manager=True)

    response = as_manager_a.post(
        admin_url("membership", "change", tenant_a.manager.pk),
        own_membership_data(tenant_a, role="staff", studios=[tenant_a.studio.pk]),
    )

    assert response.status_code == 302
    tenant_a.manager.refresh_from_db()
    assert tenant_a.manager.role == "staff"


def test_a_manager_of_another_organization_does_not_count(as_manager_a, tenant_a, tenant_b):
    """B's managers are not A's: A's only manager still cannot step down."""
    MembershipFactory(organization=tenant_b.organization, manager=True)

    response = as_manager_a.post(
        admin_url("membership", "change", tenant_a.manager.pk), own_membership_data(tenant_a, is_active="")
    )

    assert response.status_code == 200
    assert "last active manager" in str(form(response).non_field_errors())


def test_a_manager_sees_no_delete_link_for_themselves(as_manager_a, tenant_a):
    own = as_manager_a.get(admin_url("membership", "change", tenant_a.manager.pk))
    colleague = as_manager_a.get(admin_url("membership", "change", tenant_a.staff.pk))

    assert own.status_code == 200
    assert own.context["has_delete_permission"] is False
    assert admin_url("membership", "delete", tenant_a.manager.pk) not in own.content.decode()
    assert colleague.context["has_delete_permission"] is True
    assert admin_url("membership", "delete", tenant_a.staff.pk) in colleague.content.decode()


def test_a_manager_cannot_delete_themselves_by_typing_the_url(as_manager_a, tenant_a):
    before = state(tenant_a.manager)

    assert as_manager_a.get(admin_url("membership", "delete", tenant_a.manager.pk)).status_code == 403
    assert as_manager_a.post(admin_url("membership", "delete", tenant_a.manager.pk), {"post": "yes"}).status_code == 403
    assert state(tenant_a.manager) == before


def test_the_member_changelist_has_no_bulk_delete(as_manager_a, tenant_a):
    """Bulk deletion would skip the last-manager rule."""
    assert as_manager_a.get(admin_url("membership", "changelist")).context["action_form"] is None

    response = as_manager_a.post(
        admin_url("membership", "changelist"),
        {"action": "delete_selected", "_selected_action": [tenant_a.manager.pk, tenant_a.staff.pk], "post": "yes"},
    )

    assert response.status_code == 200
    assert Membership.unscoped_objects.filter(pk__in=[tenant_a.manager.pk, tenant_a.staff.pk]).count() == 2


def test_not_even_an_operator_can_delete_an_organizations_last_manager(as_operator, tenant_a):
    before = state(tenant_a.manager)

    page = as_operator.get(admin_url("membership", "change", tenant_a.manager.pk))
    response = as_operator.post(admin_url("membership", "delete", tenant_a.manager.pk), {"post": "yes"})

    assert 'class="deletelink"' not in page.content.decode()  # no delete link is offered
    assert response.status_code == 403
    assert state(tenant_a.manager) == before


def test_a_manager_removes_a_staff_member_and_their_sign_in(as_manager_a, tenant_a):
    staff = tenant_a.staff

    response = as_manager_a.post(admin_url("membership", "delete", staff.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Membership.unscoped_objects.filter(pk=staff.pk).exists()
    assert not User.objects.filter(pk=staff.user.pk).exists()


# --- 6. Operator-only pages -----------------------------------------------------------------------------------
OPERATOR_ONLY = [
    "admin:core_user_changelist",
    "admin:core_user_add",
    "admin:auth_group_changelist",
    "admin:django_celery_beat_periodictask_changelist",
    "admin:django_celery_beat_periodictask_add",
    "admin:django_celery_beat_crontabschedule_changelist",
    "admin:django_celery_beat_intervalschedule_changelist",
]


@pytest.mark.parametrize("name", OPERATOR_ONLY)
def test_managers_cannot_open_operator_only_pages(as_manager_a, name):
    response = as_manager_a.get(reverse(name))

    assert response.status_code == 403  # signed in to the admin, but these models are not theirs to see


def test_managers_cannot_open_anyones_user_page_not_even_their_own(as_manager_a, tenant_a, tenant_b):
    for user in (tenant_a.manager.user, tenant_a.staff.user, tenant_b.manager.user):
        assert as_manager_a.get(reverse("admin:core_user_change", args=[user.pk])).status_code == 403
        assert as_manager_a.get(reverse("admin:auth_user_password_change", args=[user.pk])).status_code == 403


def test_the_managers_admin_index_lists_only_the_tenant_models(as_manager_a):
    response = as_manager_a.get(reverse("admin:index"))

    assert response.status_code == 200
    models = [model["model"] for app in response.context["app_list"] for model in app["models"]]
    listed = {model.__name__ for model in models}
    assert {"Organization", "Studio", "Membership", "PhoneNumber", "ProviderAccount"} <= listed
    # Other apps add their pages; every page a manager is offered is one that scopes itself to their tenant.
    unscoped = [model.__name__ for model in models if not isinstance(site._registry[model], TenantScopedAdminMixin)]
    assert not unscoped
    content = response.content.decode()
    for name in OPERATOR_ONLY:
        assert reverse(name) not in content


def test_managers_cannot_add_organizations(as_manager_a):
    organizations_before = Organization.unscoped_objects.count()

    assert as_manager_a.get(admin_url("organization", "add")).status_code == 403
    response = as_manager_a.post(
        admin_url("organization", "add"), {"name": "Sneaky", "slug": "sneaky", "is_active": "on"}
    )

    assert response.status_code == 403
    assert Organization.unscoped_objects.count() == organizations_before
    changelist = as_manager_a.get(admin_url("organization", "changelist"))
    assert admin_url("organization", "add") not in changelist.content.decode()


def test_managers_cannot_delete_their_own_organization(as_manager_a, tenant_a):
    organization = tenant_a.organization
    changelist = as_manager_a.get(admin_url("organization", "changelist"))
    assert changelist.context["action_form"] is None  # no bulk delete, the only action, so no actions at all

    assert as_manager_a.get(admin_url("organization", "delete", organization.pk)).status_code == 403
    assert as_manager_a.post(admin_url("organization", "delete", organization.pk), {"post": "yes"}).status_code == 403
    as_manager_a.post(
        admin_url("organization", "changelist"),
        {"action": "delete_selected", "_selected_action": [organization.pk], "post": "yes"},
    )

    assert Organization.unscoped_objects.filter(pk=organization.pk).exists()
    change = as_manager_a.get(admin_url("organization", "change", organization.pk))
    assert change.context["has_delete_permission"] is False
    assert admin_url("organization", "delete", organization.pk) not in change.content.decode()


def test_managers_rename_their_organization_but_not_its_slug_or_status(as_manager_a, tenant_a):
    organization = tenant_a.organization

    response = as_manager_a.post(
        admin_url("organization", "change", organization.pk), {"name": "Acme Fitness Co", "slug": "x", "is_active": ""}
    )

    assert response.status_code == 302
    organization.refresh_from_db()
    assert (organization.name, organization.slug, organization.is_active) == ("Acme Fitness Co", "acme", True)


# --- 7. Operators see every organization ----------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_operators_see_both_organizations_on_every_changelist(as_operator, tenant_a, tenant_b, model):
    response = as_operator.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    assert rows(tenant_a, model) | rows(tenant_b, model) <= shown
    content = response.content.decode()
    assert tenant_a.organization.name in content
    assert tenant_b.organization.name in content


@pytest.mark.parametrize("view", OBJECT_VIEWS)
@pytest.mark.parametrize("model", MODELS)
def test_operators_open_every_organizations_object_pages(as_operator, tenant_a, tenant_b, model, view):
    for tenant in (tenant_a, tenant_b):
        assert as_operator.get(admin_url(model, view, representative(tenant, model).pk)).status_code == 200


@pytest.mark.parametrize(("model", "field", "expected"), FORM_CHOICES)
def test_operators_choose_from_every_organization(as_operator, tenant_a, tenant_b, model, field, expected):
    response = as_operator.get(admin_url(model, "add"))

    assert expected(tenant_a) | expected(tenant_b) <= set(form(response).fields[field].queryset)
