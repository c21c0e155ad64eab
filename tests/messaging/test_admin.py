"""The messaging admin keeps every manager inside their own organization.

Conversations, messages, the opt-out ledger, CRM write-backs, messaging settings and inbound events: for every
page a manager of A sees A's rows only; B's objects are "not found" (or refused) whatever URL is typed or POSTed;
filters, search and autocomplete never offer B's rows; staff get no admin; operators see everything. Then what
managers do here: assign the unassigned, clear "needs attention", change the opt-out ledger (only with a reason,
only through opt_out_set), search by phone as people type it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from django.contrib.messages import get_messages
from django.urls import reverse

from core.models import InboundEvent
from messaging.models import (
    Conversation,
    CrmWriteBack,
    Message,
    MessagingSettings,
    OptOut,
    OptOutEvent,
    OptOutSource,
    OptOutState,
)
from messaging.services.opt_out import opt_out_set
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.messaging.factories import (
    ContactFactory,
    ConversationFactory,
    InboundEventFactory,
    MessageFactory,
    MessagingSettingsFactory,
)

# The same person texts both organizations: their phone is in A and in B, and must still never cross.
SHARED_LEAD = "+14155550100"

PAGES = {  # admin URL prefix → model
    "messaging_conversation": Conversation,
    "messaging_message": Message,
    "messaging_optout": OptOut,
    "messaging_crmwriteback": CrmWriteBack,
    "messaging_messagingsettings": MessagingSettings,
    "core_inboundevent": InboundEvent,
}
OBJECT_VIEWS = ["change", "history", "delete"]
# Pages that are records for managers: no change (POST refused) and no delete.
READ_ONLY = {"messaging_message", "messaging_crmwriteback", "core_inboundevent"}
NO_DELETE = READ_ONLY | {"messaging_conversation", "messaging_optout", "messaging_messagingsettings"}


# --- the data of one tenant -----------------------------------------------------------------------------------
@dataclass
class Messaging:
    tenant: object
    slug: str
    lead: object
    stranger: object
    conversation: Conversation
    unassigned: Conversation
    inbound: Message
    outbound: Message
    stray: Message
    opt_out: OptOut
    write_back: CrmWriteBack
    settings: MessagingSettings
    event: InboundEvent

    def rows(self, page: str) -> set[int]:
        return {
            "messaging_conversation": {self.conversation.pk, self.unassigned.pk},
            "messaging_message": {self.inbound.pk, self.outbound.pk, self.stray.pk},
            "messaging_optout": {self.opt_out.pk},
            "messaging_crmwriteback": {self.write_back.pk},
            "messaging_messagingsettings": {self.settings.pk},
            "core_inboundevent": {self.event.pk},
        }[page]

    def representative(self, page: str):
        return {
            "messaging_conversation": self.unassigned,
            "messaging_message": self.outbound,
            "messaging_optout": self.opt_out,
            "messaging_crmwriteback": self.write_back,
            "messaging_messagingsettings": self.settings,
            "core_inboundevent": self.event,
        }[page]

    def markers(self) -> list[str]:
        """Strings only a page showing some of this tenant's messaging data contains."""
        t = self.tenant
        return [
            t.organization.name,
            t.studio.name,
            t.other_studio.name,
            self.lead.name,
            self.stranger.name,
            self.stranger.phone,
            self.inbound.body,
            self.outbound.body,
            self.stray.body,
            self.unassigned.attention_reason,
            self.settings.crm_opt_out_field,
            self.event.idempotency_key,
        ]


def build_messaging(tenant, *, slug: str, stranger_phone: str) -> Messaging:
    org = tenant.organization
    settings_row = MessagingSettingsFactory(organization=org, crm_opt_out_field=f"{slug.title()}_SMS_Opt_Out")
    lead = ContactFactory(organization=org, phone=SHARED_LEAD, name=f"{slug.title()} Lead Person")
    stranger = ContactFactory(organization=org, phone=stranger_phone, name=f"{slug.title()} Stranger Person")
    conversation = ConversationFactory(studio=tenant.studio, contact=lead, unread_count=1)
    unassigned = ConversationFactory(
        studio=None,
        organization=org,
        contact=stranger,
        unread_count=2,
        needs_attention=True,
        attention_reason=f"{slug} texted the shared number; nobody knows them",
    )
    inbound = MessageFactory(conversation=conversation, phone_number=tenant.number, body=f"{slug} hello from a lead")
    outbound = MessageFactory(
        conversation=conversation,
        phone_number=tenant.number,
        direction="outbound",
        status="failed",
        error_code="30003",
        body=f"{slug} welcome to the studio",
        sent_by=tenant.manager,
    )
    stray = MessageFactory(conversation=unassigned, phone_number=tenant.shared_number, body=f"{slug} who is this")
    opt_out, _ = opt_out_set(
        organization=org, phone=SHARED_LEAD, state=OptOutState.OPTED_OUT, source=OptOutSource.KEYWORD, message=inbound
    )
    write_back = CrmWriteBack.objects.for_organization(org).get()
    event = InboundEventFactory(organization=org, status="flagged", idempotency_key=f"{slug}-flagged-event")
    return Messaging(
        tenant, slug, lead, stranger, conversation, unassigned, inbound, outbound, stray, opt_out, write_back,
        settings_row, event,
    )  # fmt: skip


@pytest.fixture
def a(tenant_a) -> Messaging:
    return build_messaging(tenant_a, slug="acme", stranger_phone="+14155550142")


@pytest.fixture
def b(tenant_b) -> Messaging:
    return build_messaging(tenant_b, slug="bolt", stranger_phone="+14155550177")


@pytest.fixture
def orphan_event(db) -> InboundEvent:
    """An event whose organization could not be found: operators only."""
    return InboundEventFactory(organization=None, status="flagged", idempotency_key="orphan-event-key")


@pytest.fixture
def as_manager_a(client, a, b, orphan_event):
    client.force_login(a.tenant.manager.user)
    return client


@pytest.fixture
def as_operator(client, operator, a, b, orphan_event):
    client.force_login(operator)
    return client


# --- helpers --------------------------------------------------------------------------------------------------
def url(page: str, view: str, *args) -> str:
    return reverse(f"admin:{page}_{view}", args=args)


def assert_shows_nothing_of(other: Messaging, response, *, typed: str = "") -> None:
    content = response.content.decode()
    leaked = [marker for marker in other.markers() if marker in content and marker not in typed]
    assert not leaked, f"the page shows another organization's data: {leaked}"


def assert_not_found(response) -> None:
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert any("Perhaps it was deleted?" in str(m) for m in get_messages(response.wsgi_request))


def state(obj) -> dict:
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    return {field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields}


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def form(response):
    return response.context["adminform"].form


def studio_filter_choices(response) -> set[str]:
    (spec,) = [s for s in response.context["cl"].filter_specs if getattr(s, "parameter_name", None) == "studio"]
    return {key for key, _label in spec.lookup_choices}


def conversation_data(**overrides) -> dict:
    return {"studio": "", "needs_attention": "on", **overrides}


def opt_out_change_data(**overrides) -> dict:
    data = {
        "state": OptOutState.OPTED_IN,
        "reason": "Called the front desk and asked to get texts again",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def opt_out_add_data(**overrides) -> dict:
    return opt_out_change_data(
        **{"phone": "(415) 555-0123", "state": OptOutState.OPTED_OUT, "reason": "Asked by email", **overrides}
    )


# --- 1. Lists, object pages and POSTs stay inside the manager's organization ----------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_a_manager_sees_only_their_own_organizations_rows_on_every_messaging_list(as_manager_a, a, b, page):
    response = as_manager_a.get(url(page, "changelist"))

    assert listed(response) == a.rows(page)
    assert response.context["cl"].full_result_count == len(a.rows(page))
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("messaging_conversation", lambda a: a.lead.name),
        ("messaging_conversation", lambda a: a.unassigned.attention_reason),
        ("messaging_message", lambda a: a.outbound.body),
        ("messaging_message", lambda a: "30003: The phone is unreachable (off or out of coverage)."),
        ("messaging_optout", lambda a: SHARED_LEAD),
        ("messaging_crmwriteback", lambda a: a.settings.crm_opt_out_field),
        ("messaging_messagingsettings", lambda a: a.settings.crm_opt_out_field),
        ("core_inboundevent", lambda a: "Needs a person"),
    ],
)
def test_each_list_shows_the_managers_own_rows(as_manager_a, a, page, shown):
    assert shown(a) in as_manager_a.get(url(page, "changelist")).content.decode()


def test_the_conversation_list_says_unassigned_for_the_queue(as_manager_a, a):
    response = as_manager_a.get(url("messaging_conversation", "changelist"))

    content = response.content.decode()
    assert "Unassigned" in content
    assert a.stray.body[:40] in content  # the last message's text


@pytest.mark.parametrize(
    ("page", "term"),
    [
        ("messaging_conversation", lambda b: b.stranger.name),
        ("messaging_conversation", lambda b: b.stranger.phone),
        ("messaging_message", lambda b: b.outbound.body),
        ("messaging_message", lambda b: b.stranger.phone),
        ("messaging_optout", lambda b: "bolt"),
        ("messaging_crmwriteback", lambda b: b.settings.crm_opt_out_field),
        ("core_inboundevent", lambda b: b.event.idempotency_key),
    ],
)
def test_searching_never_finds_another_organizations_rows(as_manager_a, b, page, term):
    typed = term(b)

    response = as_manager_a.get(url(page, "changelist"), {"q": typed})

    assert listed(response) == set()
    assert_shows_nothing_of(b, response, typed=typed)


@pytest.mark.parametrize("page", [p for p in PAGES if p != "messaging_messagingsettings"])
def test_a_shared_phone_searched_finds_only_the_managers_own_rows(as_manager_a, a, b, page):
    expected = {
        "messaging_conversation": {a.conversation.pk},
        "messaging_message": {a.inbound.pk, a.outbound.pk},
        "messaging_optout": {a.opt_out.pk},
        "messaging_crmwriteback": {a.write_back.pk},
        "core_inboundevent": set(),  # searched by key; a phone finds none
    }[page]

    response = as_manager_a.get(url(page, "changelist"), {"q": "(415) 555-0100"})

    assert listed(response) == expected
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize(
    ("page", "lookup", "value"),
    [
        ("messaging_conversation", "organization__id__exact", lambda b: b.tenant.organization.pk),
        ("messaging_conversation", "studio", lambda b: b.tenant.studio.pk),
        ("messaging_message", "organization__id__exact", lambda b: b.tenant.organization.pk),
        ("messaging_message", "studio", lambda b: b.tenant.studio.pk),
        ("messaging_message", "conversation__id__exact", lambda b: b.conversation.pk),
        ("messaging_optout", "organization__id__exact", lambda b: b.tenant.organization.pk),
        ("messaging_crmwriteback", "organization__id__exact", lambda b: b.tenant.organization.pk),
        ("messaging_messagingsettings", "organization__id__exact", lambda b: b.tenant.organization.pk),
        ("core_inboundevent", "organization__id__exact", lambda b: b.tenant.organization.pk),
    ],
)
def test_a_typed_filter_for_another_organization_shows_an_empty_list(as_manager_a, b, page, lookup, value):
    response = as_manager_a.get(url(page, "changelist"), {lookup: value(b)})

    assert response.status_code == 200
    assert listed(response) == set()
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize("view", OBJECT_VIEWS)
@pytest.mark.parametrize("page", PAGES)
def test_another_organizations_objects_are_not_found_by_typed_urls(as_manager_a, b, page, view):
    response = as_manager_a.get(url(page, view, b.representative(page).pk))

    if view == "delete" and page in NO_DELETE:
        assert response.status_code == 403  # nobody deletes these here, not even their own
    else:
        assert_not_found(response)
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize("view", OBJECT_VIEWS)
@pytest.mark.parametrize("page", PAGES)
def test_the_same_pages_open_for_the_managers_own_objects(as_manager_a, a, b, page, view):
    response = as_manager_a.get(url(page, view, a.representative(page).pk))

    if view == "delete" and page in NO_DELETE:
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert_shows_nothing_of(b, response)


def hijack_data(a: Messaging, b: Messaging, page: str) -> dict:
    return {
        "messaging_conversation": conversation_data(studio=a.tenant.studio.pk, needs_attention=""),
        "messaging_message": {"body": "hijacked", "status": "delivered"},
        "messaging_optout": opt_out_change_data(reason="hijacked"),
        "messaging_crmwriteback": {"status": "done"},
        "messaging_messagingsettings": {"crm_opt_out_field": "Hijacked", "organization": a.tenant.organization.pk},
        "core_inboundevent": {"status": "processed"},
    }[page]


@pytest.mark.parametrize("page", PAGES)
def test_posting_to_another_organizations_change_url_changes_nothing(as_manager_a, a, b, page):
    obj = b.representative(page)
    before = state(obj)
    events_before = OptOutEvent.unscoped_objects.count()

    response = as_manager_a.post(url(page, "change", obj.pk), hijack_data(a, b, page))

    if page in READ_ONLY:
        assert response.status_code == 403
    else:
        assert_not_found(response)
    assert state(obj) == before
    assert OptOutEvent.unscoped_objects.count() == events_before


@pytest.mark.parametrize("page", PAGES)
def test_confirming_the_deletion_of_another_organizations_object_deletes_nothing(as_manager_a, b, page):
    obj = b.representative(page)

    response = as_manager_a.post(url(page, "delete", obj.pk), {"post": "yes"})

    assert response.status_code == 403
    assert state(obj)


@pytest.mark.parametrize("page", PAGES)
def test_no_bulk_delete_reaches_anyones_rows(as_manager_a, a, b, page):
    targets = a.rows(page) | b.rows(page)

    response = as_manager_a.post(
        url(page, "changelist"), {"action": "delete_selected", "_selected_action": sorted(targets), "post": "yes"}
    )

    assert response.status_code in (200, 302)
    assert PAGES[page]._default_manager.filter(pk__in=targets).count() == len(targets)
    assert_shows_nothing_of(b, response)


def test_the_clear_attention_action_cannot_reach_another_organizations_conversations(as_manager_a, a, b):
    response = as_manager_a.post(
        url("messaging_conversation", "changelist"),
        {"action": "clear_needs_attention", "_selected_action": [b.unassigned.pk]},
    )

    assert response.status_code == 302
    b.unassigned.refresh_from_db()
    assert b.unassigned.needs_attention


# --- 2. Filters, choices and autocomplete ---------------------------------------------------------------------
@pytest.mark.parametrize("page", ["messaging_conversation", "messaging_message"])
def test_the_studio_filter_offers_the_managers_own_studios_and_the_unassigned(as_manager_a, a, b, page):
    response = as_manager_a.get(url(page, "changelist"))

    assert studio_filter_choices(response) == {str(a.tenant.studio.pk), str(a.tenant.other_studio.pk), "none"}
    assert f"studio={b.tenant.studio.pk}" not in response.content.decode()
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize(
    ("page", "params", "expected"),
    [
        ("messaging_conversation", {"studio": "none"}, lambda a: {a.unassigned.pk}),
        ("messaging_conversation", {"studio": "{studio}"}, lambda a: {a.conversation.pk}),
        ("messaging_conversation", {"needs_attention__exact": "1"}, lambda a: {a.unassigned.pk}),
        ("messaging_message", {"studio": "none"}, lambda a: {a.stray.pk}),
        ("messaging_message", {"direction__exact": "outbound"}, lambda a: {a.outbound.pk}),
        ("messaging_message", {"status__exact": "failed"}, lambda a: {a.outbound.pk}),
        ("messaging_message", {"provider__exact": "twilio"}, lambda a: {a.inbound.pk, a.outbound.pk, a.stray.pk}),
        ("messaging_message", {"conversation__id__exact": "{conversation}"}, lambda a: {a.inbound.pk, a.outbound.pk}),
        ("messaging_optout", {"state__exact": "opted_out"}, lambda a: {a.opt_out.pk}),
        ("messaging_optout", {"source__exact": "manual"}, lambda a: set()),
        ("messaging_crmwriteback", {"status__exact": "pending"}, lambda a: {a.write_back.pk}),
        ("core_inboundevent", {"status__exact": "flagged"}, lambda a: {a.event.pk}),
    ],
)
def test_the_filters_work_inside_the_organization(as_manager_a, a, b, page, params, expected):
    params = {
        key: value.format(studio=a.tenant.studio.pk, conversation=a.conversation.pk) for key, value in params.items()
    }

    response = as_manager_a.get(url(page, "changelist"), params)

    assert listed(response) == expected(a)
    assert_shows_nothing_of(b, response)


def test_managers_get_no_organization_column_or_filter(as_manager_a):
    for page in PAGES:
        changelist = as_manager_a.get(url(page, "changelist")).context["cl"]
        assert "organization" not in changelist.list_display, page
        assert not [s for s in changelist.filter_specs if getattr(s, "field_path", None) == "organization"], page


def test_assigning_offers_only_the_managers_active_studios(as_manager_a, a, b):
    a.tenant.other_studio.is_active = False
    a.tenant.other_studio.save()

    response = as_manager_a.get(url("messaging_conversation", "change", a.unassigned.pk))

    assert set(form(response).fields["studio"].queryset) == {a.tenant.studio}
    assert_shows_nothing_of(b, response)


@pytest.mark.parametrize(
    ("model", "field", "expected"),
    [
        ("conversation", "studio", lambda a: {a.tenant.studio.pk, a.tenant.other_studio.pk}),
        ("message", "studio", lambda a: {a.tenant.studio.pk, a.tenant.other_studio.pk}),
        ("message", "sent_by", lambda a: {a.tenant.manager.pk, a.tenant.staff.pk}),
        ("message", "phone_number", lambda a: {a.tenant.number.pk, a.tenant.shared_number.pk}),
        ("optout", "changed_by", lambda a: {a.tenant.manager.pk, a.tenant.staff.pk}),
        ("optout", "organization", lambda a: {a.tenant.organization.pk}),
    ],
)
def test_autocomplete_answers_only_with_the_managers_own_objects(as_manager_a, a, b, model, field, expected):
    response = as_manager_a.get(
        reverse("admin:autocomplete"), {"app_label": "messaging", "model_name": model, "field_name": field, "term": ""}
    )

    assert response.status_code == 200
    assert {int(result["id"]) for result in json.loads(response.content)["results"]} == expected(a)
    assert_shows_nothing_of(b, response)


# --- 3. Nobody but active managers and operators --------------------------------------------------------------
def staff_member(tenant):
    return tenant.staff.user


def user_without_membership(tenant):
    return UserFactory(email="nobody@acme.test")


def inactive_manager(tenant):
    return MembershipFactory(organization=tenant.organization, manager=True, is_active=False).user


def manager_of_inactive_organization(tenant):
    return MembershipFactory(organization=OrganizationFactory(slug="closed", is_active=False), manager=True).user


NO_ACCESS = [staff_member, user_without_membership, inactive_manager, manager_of_inactive_organization]


@pytest.mark.parametrize("who", NO_ACCESS, ids=lambda f: f.__name__)
def test_people_who_are_not_active_managers_get_no_messaging_admin(client, a, b, who):
    client.force_login(who(a.tenant))
    opt_out_before = state(a.opt_out)

    for page in PAGES:
        for response in (
            client.get(url(page, "changelist")),
            client.get(url(page, "change", a.representative(page).pk)),
        ):
            assert response.status_code == 302
            assert response.url.startswith(reverse("admin:login"))
    refused = client.post(url("messaging_optout", "change", a.opt_out.pk), opt_out_change_data())
    assert refused.status_code == 302
    assert refused.url.startswith(reverse("admin:login"))
    assert state(a.opt_out) == opt_out_before


# --- 4. Operators see every organization ----------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_operators_see_every_organizations_rows(as_operator, a, b, orphan_event, page):
    shown = listed(as_operator.get(url(page, "changelist")))

    assert a.rows(page) | b.rows(page) <= shown
    if page == "core_inboundevent":
        assert orphan_event.pk in shown  # an event no organization could be found for


def test_managers_never_see_events_of_no_organization(as_manager_a, orphan_event):
    assert orphan_event.pk not in listed(as_manager_a.get(url("core_inboundevent", "changelist")))
    assert_not_found(as_manager_a.get(url("core_inboundevent", "change", orphan_event.pk)))


@pytest.mark.parametrize("view", ["change", "history"])
@pytest.mark.parametrize("page", PAGES)
def test_operators_open_every_organizations_object_pages(as_operator, a, b, page, view):
    for tenant in (a, b):
        assert as_operator.get(url(page, view, tenant.representative(page).pk)).status_code == 200


def test_an_operator_cannot_assign_a_conversation_to_another_organizations_studio(as_operator, a, b):
    response = as_operator.post(
        url("messaging_conversation", "change", a.unassigned.pk), conversation_data(studio=b.tenant.studio.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in str(form(response).errors["studio"])
    a.unassigned.refresh_from_db()
    assert a.unassigned.studio is None


# --- 5. Messages, write-backs and events are records ----------------------------------------------------------
@pytest.mark.parametrize("page", sorted(READ_ONLY))
def test_records_cannot_be_added_or_edited(as_manager_a, a, page):
    obj = a.representative(page)
    before = state(obj)

    page_html = as_manager_a.get(url(page, "change", obj.pk))
    assert page_html.status_code == 200
    assert page_html.context["has_change_permission"] is False
    assert 'name="_save"' not in page_html.content.decode()
    assert as_manager_a.get(url(page, "add")).status_code == 403
    assert as_manager_a.post(url(page, "change", obj.pk), {"body": "edited", "status": "done"}).status_code == 403
    assert state(obj) == before


def test_a_message_page_explains_its_error_and_names_the_sender(as_manager_a, a):
    content = as_manager_a.get(url("messaging_message", "change", a.outbound.pk)).content.decode()

    assert "The phone is unreachable" in content
    assert a.tenant.manager.user.email in content


def test_the_conversation_page_shows_its_messages_and_links_to_all_of_them(as_manager_a, a, b):
    response = as_manager_a.get(url("messaging_conversation", "change", a.conversation.pk))

    content = response.content.decode()
    assert a.inbound.body in content
    assert a.outbound.body in content
    assert url("messaging_message", "change", a.outbound.pk) in content
    assert f"conversation__id__exact={a.conversation.pk}" in content
    assert_shows_nothing_of(b, response)


# --- 6. Assigning the unassigned ------------------------------------------------------------------------------
def test_a_manager_assigns_an_unassigned_conversation_and_its_messages_move(as_manager_a, a):
    response = as_manager_a.post(
        url("messaging_conversation", "change", a.unassigned.pk), conversation_data(studio=a.tenant.other_studio.pk)
    )

    assert response.status_code == 302
    a.unassigned.refresh_from_db()
    assert a.unassigned.studio == a.tenant.other_studio
    assert (a.unassigned.needs_attention, a.unassigned.attention_reason) == (False, "")
    a.stray.refresh_from_db()
    assert a.stray.studio == a.tenant.other_studio


def test_assigning_to_a_studio_that_already_talks_to_the_contact_joins_their_thread(as_manager_a, a):
    unassigned = ConversationFactory(
        studio=None, organization=a.tenant.organization, contact=a.lead, unread_count=3, needs_attention=True
    )
    text = MessageFactory(conversation=unassigned, body="acme: is the studio open on Sunday")

    response = as_manager_a.post(
        url("messaging_conversation", "change", unassigned.pk), conversation_data(studio=a.tenant.studio.pk)
    )

    assert response.status_code == 302
    assert not Conversation.unscoped_objects.filter(pk=unassigned.pk).exists()
    text.refresh_from_db()
    assert (text.conversation, text.studio) == (a.conversation, a.tenant.studio)
    a.conversation.refresh_from_db()
    assert a.conversation.unread_count == 1 + 3


def test_a_tampered_post_cannot_assign_a_conversation_to_another_organizations_studio(as_manager_a, a, b):
    before = state(a.unassigned)

    response = as_manager_a.post(
        url("messaging_conversation", "change", a.unassigned.pk), conversation_data(studio=b.tenant.studio.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in str(form(response).errors["studio"])
    assert state(a.unassigned) == before
    assert Conversation.unscoped_objects.filter(studio=b.tenant.studio).count() == 1  # only B's own
    assert_shows_nothing_of(b, response)


def test_an_assigned_conversation_cannot_be_moved_to_another_studio(as_manager_a, a):
    before = state(a.conversation)

    response = as_manager_a.post(
        url("messaging_conversation", "change", a.conversation.pk), conversation_data(studio=a.tenant.other_studio.pk)
    )

    assert response.status_code == 302  # the studio is read-only once assigned: the POSTed value is ignored
    assert state(a.conversation)["studio_id"] == before["studio_id"]


def test_a_manager_clears_needs_attention_without_assigning(as_manager_a, a):
    response = as_manager_a.post(
        url("messaging_conversation", "change", a.unassigned.pk), conversation_data(needs_attention="")
    )

    assert response.status_code == 302
    a.unassigned.refresh_from_db()
    assert (a.unassigned.studio, a.unassigned.needs_attention) == (None, False)


def test_the_clear_attention_action(as_manager_a, a):
    response = as_manager_a.post(
        url("messaging_conversation", "changelist"),
        {"action": "clear_needs_attention", "_selected_action": [a.unassigned.pk, a.conversation.pk]},
    )

    assert response.status_code == 302
    a.unassigned.refresh_from_db()
    assert not a.unassigned.needs_attention


# --- 7. The opt-out ledger: changed by managers, with a reason, through opt_out_set ---------------------------
def test_changing_an_opt_out_requires_a_reason(as_manager_a, a):
    before = state(a.opt_out)
    events_before = OptOutEvent.unscoped_objects.filter(opt_out=a.opt_out).count()

    response = as_manager_a.post(url("messaging_optout", "change", a.opt_out.pk), opt_out_change_data(reason=""))

    assert response.status_code == 200
    assert "reason" in form(response).errors
    assert state(a.opt_out) == before
    assert OptOutEvent.unscoped_objects.filter(opt_out=a.opt_out).count() == events_before


def test_the_reason_field_starts_empty_on_every_change(as_manager_a, a):
    opt_out_set(
        organization=a.tenant.organization,
        phone=SHARED_LEAD,
        state=OptOutState.OPTED_OUT,
        source=OptOutSource.MANUAL,
        reason="an earlier note",
    )

    response = as_manager_a.get(url("messaging_optout", "change", a.opt_out.pk))

    assert form(response)["reason"].value() in (None, "")
    assert "an earlier note" in response.content.decode()  # in the history, not the input


def test_a_manager_opts_a_phone_back_in_with_a_reason_recorded_with_their_name(as_manager_a, a):
    response = as_manager_a.post(url("messaging_optout", "change", a.opt_out.pk), opt_out_change_data())

    assert response.status_code == 302
    a.opt_out.refresh_from_db()
    assert (a.opt_out.state, a.opt_out.source, a.opt_out.changed_by) == (
        OptOutState.OPTED_IN,
        OptOutSource.MANUAL,
        a.tenant.manager,
    )
    event = OptOutEvent.unscoped_objects.filter(opt_out=a.opt_out).latest("created_at")
    assert (event.state, event.source, event.changed_by, event.reason) == (
        OptOutState.OPTED_IN,
        OptOutSource.MANUAL,
        a.tenant.manager,
        "Called the front desk and asked to get texts again",
    )
    write_back = CrmWriteBack.objects.for_organization(a.tenant.organization).get(status="pending")
    assert (write_back.field, write_back.value) == (a.settings.crm_opt_out_field, False)


def test_the_phone_of_a_ledger_row_cannot_be_changed(as_manager_a, a):
    as_manager_a.post(url("messaging_optout", "change", a.opt_out.pk), opt_out_change_data(phone="+14155550199"))

    a.opt_out.refresh_from_db()
    assert a.opt_out.phone == SHARED_LEAD


@pytest.mark.parametrize("typed", ["(415) 555-0123", "415.555.0123", "+1 415 555 0123", "4155550123"])
def test_a_manager_adds_an_opt_out_typed_as_people_type_numbers(as_manager_a, a, typed):
    response = as_manager_a.post(url("messaging_optout", "add"), opt_out_add_data(phone=typed))

    assert response.status_code == 302
    opt_out = OptOut.objects.for_organization(a.tenant.organization).get(phone="+14155550123")
    assert (opt_out.state, opt_out.source, opt_out.changed_by) == (
        OptOutState.OPTED_OUT,
        OptOutSource.MANUAL,
        a.tenant.manager,
    )
    (event,) = OptOutEvent.unscoped_objects.filter(opt_out=opt_out)
    assert (event.changed_by, event.reason, event.source) == (a.tenant.manager, "Asked by email", "manual")


def test_adding_an_opt_out_requires_a_reason(as_manager_a, a):
    response = as_manager_a.post(url("messaging_optout", "add"), opt_out_add_data(reason=" "))

    assert response.status_code == 200
    assert "reason" in form(response).errors
    assert not OptOut.unscoped_objects.filter(phone="+14155550123").exists()


def test_an_opt_out_added_with_another_organization_in_the_post_lands_in_the_managers(as_manager_a, a, b):
    response = as_manager_a.post(
        url("messaging_optout", "add"), opt_out_add_data(organization=b.tenant.organization.pk)
    )

    assert response.status_code == 302
    assert OptOut.unscoped_objects.get(phone="+14155550123").organization == a.tenant.organization
    assert not OptOut.objects.for_organization(b.tenant.organization).filter(phone="+14155550123").exists()


def test_adding_a_phone_already_in_the_ledger_points_to_its_row(as_manager_a, a):
    response = as_manager_a.post(url("messaging_optout", "add"), opt_out_add_data(phone="415-555-0100"))

    assert response.status_code == 200
    assert "already in the ledger (Opted out): change it there" in str(form(response).errors["phone"])
    assert OptOut.objects.for_organization(a.tenant.organization).count() == 1


def test_a_phone_that_is_not_a_number_is_refused_with_a_clear_message(as_manager_a, a):
    response = as_manager_a.post(url("messaging_optout", "add"), opt_out_add_data(phone="555-01"))

    assert response.status_code == 200
    assert "phone" in form(response).errors


def test_the_ledger_is_never_deleted(as_manager_a, as_operator, a):
    for client in (as_manager_a, as_operator):
        assert client.get(url("messaging_optout", "delete", a.opt_out.pk)).status_code == 403
        assert client.post(url("messaging_optout", "delete", a.opt_out.pk), {"post": "yes"}).status_code == 403
    assert OptOut.unscoped_objects.filter(pk=a.opt_out.pk).exists()


def test_the_ledger_page_shows_its_history_read_only(as_manager_a, a, b):
    response = as_manager_a.get(url("messaging_optout", "change", a.opt_out.pk))

    (history,) = response.context["inline_admin_formsets"]
    assert not history.has_add_permission
    assert not history.has_change_permission
    assert not history.has_delete_permission
    assert [event.pk for event in history.formset.queryset] == list(
        OptOutEvent.unscoped_objects.filter(opt_out=a.opt_out).values_list("pk", flat=True)
    )
    assert_shows_nothing_of(b, response)


def test_an_operator_changes_the_ledger_without_a_membership(as_operator, a):
    response = as_operator.post(url("messaging_optout", "change", a.opt_out.pk), opt_out_change_data())

    assert response.status_code == 302
    event = OptOutEvent.unscoped_objects.filter(opt_out=a.opt_out).latest("created_at")
    assert (event.source, event.changed_by) == ("manual", None)


# --- 8. Search by phone, as people type it --------------------------------------------------------------------
@pytest.mark.parametrize(
    "typed", ["+1 415 555 0142", "(415) 555-0142", "4155550142", "415-555-0142", "+14155550142", "0142", "555 0142"]
)
@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("messaging_conversation", lambda a: {a.unassigned.pk}),
        ("messaging_message", lambda a: {a.stray.pk}),
    ],
)
def test_search_by_phone_in_any_format(as_manager_a, a, b, typed, page, expected):
    response = as_manager_a.get(url(page, "changelist"), {"q": typed})

    assert listed(response) == expected(a)
    assert_shows_nothing_of(b, response, typed=typed)


@pytest.mark.parametrize("typed", ["+1 415 555 0100", "(415) 555-0100", "4155550100"])
def test_the_ledger_is_searched_by_phone(as_manager_a, a, typed):
    assert listed(as_manager_a.get(url("messaging_optout", "changelist"), {"q": typed})) == {a.opt_out.pk}


def test_a_national_number_is_read_in_the_region_of_the_organizations_numbers(as_manager_a, a):
    """A UK organization's manager types a UK number the UK way (with its trunk 0)."""
    for number in (a.tenant.number, a.tenant.shared_number):
        number.number = "+4420794600" + ("18" if number == a.tenant.number else "19")
        number.save()
    uk = ContactFactory(organization=a.tenant.organization, phone="+447911123456", name="UK Lead")
    conversation = ConversationFactory(studio=a.tenant.studio, contact=uk)

    response = as_manager_a.get(url("messaging_conversation", "changelist"), {"q": "07911 123456"})

    assert listed(response) == {conversation.pk}


def test_a_message_body_is_searched_too(as_manager_a, a):
    assert listed(as_manager_a.get(url("messaging_message", "changelist"), {"q": "welcome to the studio"})) == {
        a.outbound.pk
    }


# --- 9. Messaging settings ------------------------------------------------------------------------------------
def test_a_manager_edits_their_organizations_messaging_settings(as_manager_a, a, b):
    response = as_manager_a.post(
        url("messaging_messagingsettings", "change", a.settings.pk),
        {"crm_opt_out_field": "Do_Not_Text", "organization": b.tenant.organization.pk},
    )

    assert response.status_code == 302
    a.settings.refresh_from_db()
    assert (a.settings.crm_opt_out_field, a.settings.organization) == ("Do_Not_Text", a.tenant.organization)


def test_a_manager_adds_the_settings_row_only_when_it_is_missing(as_manager_a, a, b):
    assert as_manager_a.get(url("messaging_messagingsettings", "add")).status_code == 403
    MessagingSettings.unscoped_objects.filter(pk=a.settings.pk).delete()

    response = as_manager_a.post(
        url("messaging_messagingsettings", "add"),
        {"crm_opt_out_field": "Do_Not_Text", "organization": b.tenant.organization.pk},
    )

    assert response.status_code == 302
    assert MessagingSettings.unscoped_objects.get(crm_opt_out_field="Do_Not_Text").organization == a.tenant.organization
    b.settings.refresh_from_db()
    assert b.settings.crm_opt_out_field == "Bolt_SMS_Opt_Out"


def test_the_managers_index_lists_the_messaging_pages(as_manager_a):
    response = as_manager_a.get(reverse("admin:index"))

    listed_models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert {"Conversation", "Message", "OptOut", "CrmWriteBack", "MessagingSettings", "InboundEvent"} <= listed_models
