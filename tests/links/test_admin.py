"""The two-way sync admin keeps every manager inside their own organization (lists, filters, object pages, actions,
the review page), operators see every one, staff nothing; and what managers do there: preview, start, pause and
resume links, edit mappings, work the failed-writes queue (retry, skip), read the history, settle match reviews."""

from __future__ import annotations

import pytest

from django.contrib.messages import get_messages
from django.urls import resolve, reverse

from links.metadata import object_spec_prime
from links.models import LinkField, LinkWrite, MatchReview, RecordPair, SyncLink
from tests.factories import MembershipFactory, UserFactory
from tests.links.conftest import LEAD_A, LEAD_B
from tests.links.ops_rows import Rows, build

pytestmark = pytest.mark.django_db

PAGES = ["synclink", "linkobject", "linkwrite", "linkconflict", "matchreview", "recordpair"]
# The queue pages start on failed writes and open reviews: every row of them, for the scoping tests.
EVERY_STATE = {"linkwrite": {"state": "all"}, "matchreview": {"state": "all"}}


def prime(rows: Rows) -> None:
    """The objects' field metadata in the cache, as a read of the CRMs leaves it (no CRM is called)."""
    object_spec_prime(connection=rows.link.connection_a, object="lead", spec=LEAD_A)
    object_spec_prime(connection=rows.link.connection_b, object="lead", spec=LEAD_B)


@pytest.fixture
def a(tenant_a):
    rows = build(tenant_a, "alpha", digits="1")
    prime(rows)
    return rows


@pytest.fixture
def b(tenant_b):
    rows = build(tenant_b, "bravo", digits="2")
    prime(rows)
    return rows


def admin_url(page: str, view: str, *args) -> str:
    return reverse(f"admin:links_{page}_{view}", args=args)


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def act(client, page: str, action: str, *objects, follow: bool = True):
    data = {"action": action, "_selected_action": [obj.pk for obj in objects]}
    return client.post(admin_url(page, "changelist"), data, follow=follow)


# --- scoping -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_a_manager_lists_only_their_organization(client, a, b, page):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url(page, "changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert b.organization.name not in html
    assert "bravo" not in html  # nor its link in the filters, nor its values
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == {a.obj(page).pk}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_another_organizations_objects_are_not_found(client, a, b, page, view):
    client.force_login(a.tenant.manager.user)
    for method in ("get", "post"):
        response = getattr(client, method)(admin_url(page, view, b.obj(page).pk))
        assert response.status_code in (302, 403, 404)
        if response.status_code == 302:
            assert response.url == reverse("admin:index")
    b.review.refresh_from_db()
    assert b.review.state == MatchReview.State.OPEN


@pytest.mark.parametrize("page", PAGES)
def test_a_filter_naming_another_organizations_link_shows_nothing(client, a, b, page):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url(page, "changelist"), {"link__id__exact": b.link.pk, **EVERY_STATE.get(page, {})})
    if response.status_code == 200:
        # Their own rows at most (Django drops a filter offering one choice): never another organization's.
        rows = list(response.context["cl"].queryset)
        assert {row.organization_id for row in rows} <= {a.organization.pk}
        assert "bravo" not in response.content.decode()
    else:
        assert response.status_code in (302, 400)


@pytest.mark.parametrize("page", PAGES)
def test_studio_staff_have_no_admin(client, a, page):
    client.force_login(a.tenant.staff.user)
    response = client.get(admin_url(page, "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response.url
    response = client.get(admin_url(page, "change", a.obj(page).pk))
    assert response.status_code == 302


@pytest.mark.parametrize("page", PAGES)
def test_django_staff_without_a_manager_membership_are_refused(client, a, page):
    staff = UserFactory(email="helper@leadline.test", is_staff=True)
    client.force_login(staff)
    assert client.get(admin_url(page, "changelist")).status_code == 403
    assert client.get(admin_url(page, "change", a.obj(page).pk)).status_code in (302, 403)


@pytest.mark.parametrize("page", PAGES)
def test_operators_see_every_organization(client, operator, a, b, page):
    client.force_login(operator)
    response = client.get(admin_url(page, "changelist"))
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == {a.obj(page).pk, b.obj(page).pk}
    assert client.get(admin_url(page, "change", b.obj(page).pk)).status_code == 200


def test_actions_on_another_organizations_rows_do_nothing(client, a, b):
    client.force_login(a.tenant.manager.user)
    act(client, "synclink", "pause", b.link)
    b.link.refresh_from_db()
    assert b.link.state == SyncLink.State.RUNNING
    act(client, "linkwrite", "skip", b.failed)
    b.failed.refresh_from_db()
    assert b.failed.state == LinkWrite.State.FAILED


def test_a_manager_cannot_link_another_organizations_connection(client, a, b):
    client.force_login(a.tenant.manager.user)
    data = {
        "name": "stolen",
        "connection_a": a.tenant.zoho.pk,
        "connection_b": b.link.connection_b.pk,
        "time_zone": "America/New_York",
        "owners": "[]",
        "objects_linked-TOTAL_FORMS": "0",
        "objects_linked-INITIAL_FORMS": "0",
        "objects_linked-MIN_NUM_FORMS": "0",
        "objects_linked-MAX_NUM_FORMS": "1000",
    }
    response = client.post(admin_url("synclink", "add"), data)
    assert response.status_code == 200  # the form refuses the choice
    assert "connection_b" in response.context["adminform"].form.errors
    assert not SyncLink.objects.unscoped().filter(name="stolen").exists()


def test_a_link_joins_crm_connections_only(client, a):
    client.force_login(a.tenant.manager.user)
    data = {
        "name": "texts",
        "connection_a": a.tenant.zoho.pk,
        "connection_b": a.tenant.twilio.pk,
        "time_zone": "America/New_York",
        "owners": "[]",
        "objects_linked-TOTAL_FORMS": "0",
        "objects_linked-INITIAL_FORMS": "0",
        "objects_linked-MIN_NUM_FORMS": "0",
        "objects_linked-MAX_NUM_FORMS": "1000",
    }
    response = client.post(admin_url("synclink", "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["connection_b"] == [
        f"{a.tenant.twilio.name} is not a CRM connection."
    ]


def test_a_manager_adds_a_link_of_their_organization(client, a):
    client.force_login(a.tenant.manager.user)
    other = a.link.connection_b
    data = {
        "name": "second",
        "connection_a": other.pk,
        "connection_b": a.tenant.zoho.pk,
        "time_zone": "Europe/Paris",
        "owners": "[]",
        "objects_linked-TOTAL_FORMS": "1",
        "objects_linked-INITIAL_FORMS": "0",
        "objects_linked-MIN_NUM_FORMS": "0",
        "objects_linked-MAX_NUM_FORMS": "1000",
        "objects_linked-0-position": "0",
        "objects_linked-0-object_a": "lead",
        "objects_linked-0-object_b": "lead",
        "objects_linked-0-match_by": '["email"]',
        "objects_linked-0-create_a": "on",
        "objects_linked-0-deletes": "ignore",
        "objects_linked-0-archive_a": "{}",
        "objects_linked-0-archive_b": "{}",
    }
    response = client.post(admin_url("synclink", "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    link = SyncLink.objects.for_organization(a.organization).get(name="second")
    assert link.state == SyncLink.State.DRAFT
    (link_object,) = link.objects_linked.all()
    assert link_object.organization_id == a.organization.pk


# --- links: status, change form, actions -------------------------------------------------------------------------


def test_the_link_list_shows_each_links_status(client, a):
    client.force_login(a.tenant.manager.user)
    html = client.get(admin_url("synclink", "changelist")).content.decode()
    assert f"{a.tenant.zoho.name} ⇄ {a.link.connection_b.name}" in html
    failed = f"{reverse('admin:links_linkwrite_changelist')}?link__id__exact={a.link.pk}&amp;state=failed"
    assert failed in html
    assert "10.0 s / 10.0 s" in html  # lag p50 / p99 of the one done write


def test_the_change_form_shows_the_configuration_problems_and_the_last_preview(client, a):
    LinkField.objects.create(organization=a.organization, link_object=a.link_object, field_a="Nope", field_b="nope")
    SyncLink.unscoped_objects.filter(pk=a.link.pk).update(
        preview={"objects": [{"object": "lead ⇄ lead", "matched": 7}]}
    )
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url("synclink", "change", a.link.pk))
    html = response.content.decode()
    assert response.context["link_problems"]
    assert any("Nope" in problem for problem in response.context["link_problems"])
    assert "Nope" in html
    assert "&quot;matched&quot;: 7" in html


def test_the_change_form_and_the_list_run_outside_the_requests_transaction():
    """Their actions and the problems ask the CRMs: the request must not hold a transaction around them."""
    for view in (admin_url("synclink", "changelist"), admin_url("synclink", "change", 1)):
        assert resolve(view).func._non_atomic_requests == {"default"}


def test_pause_and_resume_from_the_list(client, a):
    client.force_login(a.tenant.manager.user)
    response = act(client, "synclink", "pause", a.link)
    a.link.refresh_from_db()
    assert a.link.state == SyncLink.State.PAUSED
    assert "manager@acme.test" in a.link.pause_reason
    assert "link-alpha: paused." in texts(response)
    act(client, "synclink", "resume", a.link)
    a.link.refresh_from_db()
    assert a.link.state == SyncLink.State.RUNNING


def test_starting_a_link_with_problems_lists_them_one_per_line(client, tenant_a):
    rows = build(tenant_a, "alpha", state=SyncLink.State.DRAFT)
    prime(rows)
    for name in ("Nope", "Nada"):
        LinkField.objects.create(
            organization=rows.organization, link_object=rows.link_object, field_a=name, field_b=name.lower()
        )
    client.force_login(tenant_a.manager.user)
    response = act(client, "synclink", "start", rows.link)
    (message,) = texts(response)
    assert message.startswith("link-alpha cannot start:<br>")
    assert message.count("<br>") >= 2
    assert "Nope" in message
    assert "Nada" in message
    rows.link.refresh_from_db()
    assert rows.link.state == SyncLink.State.DRAFT


def test_the_preview_action_stores_the_preview_and_says_what_it_found(client, tenant_a):
    rows = build(tenant_a, "alpha", state=SyncLink.State.DRAFT)
    prime(rows)
    client.force_login(tenant_a.manager.user)
    response = act(client, "synclink", "preview", rows.link)
    (message,) = texts(response)
    assert message.startswith("link-alpha: preview made. lead ⇄ lead:")
    rows.link.refresh_from_db()
    assert rows.link.preview_at is not None
    assert rows.link.preview["objects"][0]["object"] == "lead ⇄ lead"


# --- mappings ----------------------------------------------------------------------------------------------------


def test_a_manager_edits_a_mapping_and_adds_one_in_their_organization(client, a):
    client.force_login(a.tenant.manager.user)
    field = a.link_field
    data = {
        "link": a.link.pk,
        "position": "0",
        "object_a": "lead",
        "object_b": "lead",
        "external_id_a": "Leadline_Id",
        "external_id_b": "leadline_id",
        "match_by": '["email"]',
        "create_a": "on",
        "create_b": "on",
        "deletes": "ignore",
        "archive_a": "{}",
        "archive_b": "{}",
        "fields-TOTAL_FORMS": "2",
        "fields-INITIAL_FORMS": "1",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        "fields-0-id": field.pk,
        "fields-0-link_object": a.link_object.pk,
        "fields-0-field_a": "Last_Name",
        "fields-0-field_b": "lastname",
        "fields-0-direction": "a_to_b",
        "fields-0-conflict": "a_wins",
        "fields-0-clears": "on",
        "fields-0-values_a_to_b": "{}",
        "fields-0-values_b_to_a": "{}",
        "fields-1-link_object": a.link_object.pk,
        "fields-1-field_a": "Email",
        "fields-1-field_b": "email",
        "fields-1-direction": "both",
        "fields-1-conflict": "latest",
        "fields-1-values_a_to_b": "{}",
        "fields-1-values_b_to_a": "{}",
    }
    response = client.post(admin_url("linkobject", "change", a.link_object.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    field.refresh_from_db()
    assert (field.direction, field.conflict, field.clears) == ("a_to_b", "a_wins", True)
    added = LinkField.objects.for_organization(a.organization).get(link_object=a.link_object, field_a="Email")
    assert added.organization_id == a.organization.pk


def test_a_mapping_cannot_move_to_another_organizations_link(client, a, b):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url("linkobject", "change", a.link_object.pk))
    choices = [str(choice[0]) for choice in response.context["adminform"].form.fields["link"].choices]
    assert str(b.link.pk) not in choices
    assert str(a.link.pk) in choices


# --- the failed-writes queue and the history ---------------------------------------------------------------------


def test_the_queue_starts_on_failed_writes_with_the_crms_words_and_links_to_both_records(client, a):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url("linkwrite", "changelist"))
    html = response.content.decode()
    assert [w.pk for w in response.context["cl"].queryset] == [a.failed.pk]
    assert "INVALID_DATA: validation rule says no to alpha (Last_Name)" in html
    assert "Old-alpha → Refused-alpha" in html
    assert f"https://crm.zoho.eu/crm/tab/Leads/{a.pair.id_a}" in html
    assert a.pair.id_b in html


def test_the_history_of_done_writes_per_pair_shows_old_and_new(client, a):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url("linkwrite", "changelist"), {"state": "done", "pair__id__exact": a.pair.pk})
    assert [w.pk for w in response.context["cl"].queryset] == [a.done.pk]
    assert "lastname: Old-alpha → New-alpha" in response.content.decode()
    page = client.get(admin_url("recordpair", "change", a.pair.pk)).content.decode()
    assert "Last_Name ⇄ lastname" in page
    assert "Old-alpha → New-alpha" in page


def test_skip_leaves_the_write_out_and_records_who(client, a):
    client.force_login(a.tenant.manager.user)
    response = act(client, "linkwrite", "skip", a.failed)
    assert "1 failed write skipped." in texts(response)
    a.failed.refresh_from_db()
    assert a.failed.state == LinkWrite.State.SKIPPED
    assert a.failed.resolved_by == a.tenant.manager.user


def test_retry_puts_the_write_back_and_records_who(client, a):
    client.force_login(a.tenant.manager.user)
    response = act(client, "linkwrite", "retry", a.failed)
    assert "1 failed write will be retried." in texts(response)
    a.failed.refresh_from_db()
    assert a.failed.state in (LinkWrite.State.PENDING, LinkWrite.State.SUPERSEDED)
    assert a.failed.resolved_by == a.tenant.manager.user
    assert a.failed.error_code == ""


def test_a_done_write_is_neither_retried_nor_skipped(client, a):
    client.force_login(a.tenant.manager.user)
    act(client, "linkwrite", "skip", a.done)
    a.done.refresh_from_db()
    assert a.done.state == LinkWrite.State.DONE


def test_conflicts_are_read_only_with_both_values(client, a):
    client.force_login(a.tenant.manager.user)
    html = client.get(admin_url("linkconflict", "changelist")).content.decode()
    assert "A-alpha" in html
    assert "B-alpha" in html
    response = client.post(admin_url("linkconflict", "change", a.conflict.pk), {"winner": "b"})
    assert response.status_code in (302, 403)
    a.conflict.refresh_from_db()
    assert a.conflict.winner == "a"


# --- match reviews -----------------------------------------------------------------------------------------------


def test_a_review_shows_the_record_and_each_candidate_from_the_mirror(client, a):
    client.force_login(a.tenant.manager.user)
    response = client.get(admin_url("matchreview", "change", a.review.pk))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Reviewed alpha", "Cand One alpha", "Cand Two alpha", "alpha@x.test", "+14155552301"):
        assert text in html
    assert 'name="choice" value="ignore"' in html


def test_a_review_is_settled_by_linking_the_candidate_picked(client, a):
    client.force_login(a.tenant.manager.user)
    chosen = a.candidates[1].external_id
    response = client.post(admin_url("matchreview", "change", a.review.pk), {"choice": "link", "chosen_id": chosen})
    assert response.status_code == 302
    a.review.refresh_from_db()
    assert (a.review.state, a.review.chosen_id, a.review.resolved_by) == ("linked", chosen, a.tenant.manager.user)
    assert RecordPair.objects.for_organization(a.organization).filter(id_a=a.review.external_id, id_b=chosen).exists()


def test_linking_needs_one_of_the_candidates(client, a, b):
    client.force_login(a.tenant.manager.user)
    foreign = b.candidates[0].external_id
    response = client.post(admin_url("matchreview", "change", a.review.pk), {"choice": "link", "chosen_id": foreign})
    assert response.status_code == 200
    assert "Pick one of the candidates to link." in texts(response)
    a.review.refresh_from_db()
    assert a.review.state == MatchReview.State.OPEN


@pytest.mark.parametrize(("choice", "state"), [("ignore", "ignored"), ("create", "create")])
def test_a_review_is_settled_by_creating_or_ignoring(client, a, choice, state):
    client.force_login(a.tenant.manager.user)
    client.post(admin_url("matchreview", "change", a.review.pk), {"choice": choice})
    a.review.refresh_from_db()
    assert a.review.state == state
    # Settled: the review list (open ones) no longer shows it.
    response = client.get(admin_url("matchreview", "changelist"))
    assert list(response.context["cl"].queryset) == []


def test_another_organizations_manager_cannot_settle_a_review(client, a, b):
    manager_b = MembershipFactory(organization=b.organization, manager=True, user__email="second@bolt.test")
    client.force_login(manager_b.user)
    response = client.post(admin_url("matchreview", "change", a.review.pk), {"choice": "ignore"})
    assert response.status_code == 404
    a.review.refresh_from_db()
    assert a.review.state == MatchReview.State.OPEN


@pytest.mark.parametrize("page", ["linkwrite", "recordpair", "synclink"])
def test_a_list_reads_a_bounded_number_of_queries_whatever_its_rows(client, a, page, django_assert_max_num_queries):
    from tests.links.ops_rows import write

    for i in range(30):
        pair = RecordPair.objects.create(
            organization=a.organization, link=a.link, link_object=a.link_object, id_a=f"5{i:05d}", id_b=f"6{i:05d}"
        )
        write(a.link, pair=pair, state=LinkWrite.State.FAILED, values={"lastname": f"v{i}"}, error_code="X")
    client.force_login(a.tenant.manager.user)
    with django_assert_max_num_queries(25):
        response = client.get(admin_url(page, "changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_every_relation_filter_typed_with_another_organizations_row_finds_nothing(client, a, b, page):
    from django.contrib.admin import RelatedFieldListFilter

    # A second link, so a manager's link filter has choices to offer (Django hides a filter of one choice).
    SyncLink.objects.create(
        organization=a.organization, name="link-alpha-two", connection_a=a.link.connection_b, connection_b=a.tenant.zoho
    )
    client.force_login(a.tenant.manager.user)
    own = client.get(admin_url(page, "changelist"), EVERY_STATE.get(page, {})).context["cl"]
    tried = 0
    for spec in own.filter_specs:
        field = getattr(spec, "field", None)
        if not isinstance(spec, RelatedFieldListFilter) or field is None:
            continue
        offered = {pk for pk, _label in spec.lookup_choices}
        foreign = set(field.related_model.objects.for_organization(b.organization).values_list("pk", flat=True))
        assert not offered & foreign
        response = client.get(
            admin_url(page, "changelist"), {spec.lookup_kwarg: sorted(foreign)[0], **EVERY_STATE.get(page, {})}
        )
        tried += 1
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0
        assert "bravo" not in response.content.decode()
    if page != "synclink":
        assert tried, "the control: the link filter was tried with the other organization's link"


@pytest.mark.parametrize("page", PAGES)
def test_search_finds_nothing_of_another_organization(client, a, b, page):
    from django.contrib import admin as django_admin

    if not django_admin.site._registry[type(a.obj(page))].search_fields:
        pytest.skip("no search on this page")
    client.force_login(a.tenant.manager.user)
    for term in ("bravo", b.pair.id_a, b.review.external_id):
        response = client.get(admin_url(page, "changelist"), {"q": term, **EVERY_STATE.get(page, {})})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0
