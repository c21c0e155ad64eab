"""Every API endpoint against every kind of caller: staff of the studio, staff of another studio, the manager,
members of another organization, the anonymous, the inactive and operators. "Not yours" is 404, like "not there"."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import pytest

from django.test import Client

from messaging.models import Message
from tests.factories import MembershipFactory
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a, tenant_b):
    """Organization A: a thread per studio and one unassigned; organization B: one thread."""
    a, b = tenant_a, tenant_b
    main = ConversationFactory(studio=a.studio, unread_count=1)
    east = ConversationFactory(studio=a.other_studio)
    queue = ConversationFactory(studio=None, organization=a.organization, needs_attention=True)
    theirs = ConversationFactory(studio=b.studio)
    for conversation in (main, east, queue, theirs):
        MessageFactory(conversation=conversation)
    return SimpleNamespace(
        a=a,
        b=b,
        main=main,
        east=east,
        queue=queue,
        theirs=theirs,
        east_staff=MembershipFactory(organization=a.organization, studios=[a.other_studio]),
        inactive=MembershipFactory(organization=a.organization, studios=[a.studio], is_active=False),
    )


def client_for(world, who: str, operator=None) -> Client:
    client = Client()
    people = {
        "staff": world.a.staff,
        "east_staff": world.east_staff,
        "manager": world.a.manager,
        "other_manager": world.b.manager,
        "other_staff": world.b.staff,
        "inactive": world.inactive,
    }
    if who == "operator":
        client.force_login(operator)
    elif who != "anonymous":
        client.force_login(people[who].user)
    return client


# Which of A's threads (and B's) each caller sees.
VISIBLE = {
    "staff": {"main"},
    "east_staff": {"east"},
    "manager": {"main", "east", "queue"},
    "other_manager": {"theirs"},
    "other_staff": {"theirs"},
}
THREADS = ("main", "east", "queue", "theirs")
CALLERS = (*VISIBLE, "anonymous", "inactive", "operator")


def refused_status(who: str) -> int | None:
    return {"anonymous": 401, "inactive": 403, "operator": 403}.get(who)


@pytest.mark.parametrize("who", CALLERS)
def test_the_conversation_list_shows_each_caller_only_theirs(world, who, operator):
    response = client_for(world, who, operator).get("/api/v1/conversations/")
    if refused_status(who):
        assert response.status_code == refused_status(who)
        assert set(response.json()) == {"message", "extra"}
        return
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {getattr(world, name).pk for name in VISIBLE[who]}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("thread", THREADS)
@pytest.mark.parametrize(
    "endpoint",
    [
        "/api/v1/conversations/{conversation}/",
        "/api/v1/conversations/{conversation}/messages/",
        "/api/v1/contacts/{contact}/opt-out/",
        "/api/v1/contacts/{contact}/crm/",
    ],
)
def test_reading_one_thread_is_404_unless_the_caller_sees_it(world, who, thread, endpoint, operator):
    conversation = getattr(world, thread)
    url = endpoint.format(conversation=conversation.pk, contact=conversation.contact_id)
    response = client_for(world, who, operator).get(url)
    expected = refused_status(who) or (200 if thread in VISIBLE[who] else 404)
    assert response.status_code == expected, response.content
    if expected != 200:
        assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("thread", THREADS)
def test_marking_read_is_404_unless_the_caller_sees_it_and_changes_nothing_then(world, who, thread, operator):
    conversation = getattr(world, thread)
    conversation.unread_count = 3
    conversation.save(update_fields=["unread_count"])
    response = client_for(world, who, operator).post(f"/api/v1/conversations/{conversation.pk}/read/")
    expected = refused_status(who) or (200 if thread in VISIBLE[who] else 404)
    assert response.status_code == expected
    conversation.refresh_from_db()
    assert conversation.unread_count == (0 if expected == 200 else 3)


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("thread", ["main", "east", "theirs"])
def test_sending_in_a_thread_is_404_unless_the_caller_sees_it(world, who, thread, operator):
    conversation = getattr(world, thread)
    with mock.patch("messaging.services.sending.message_send_enqueue"):
        response = client_for(world, who, operator).post(
            f"/api/v1/conversations/{conversation.pk}/messages/", {"body": "Hi"}, content_type="application/json"
        )
    expected = refused_status(who) or (201 if thread in VISIBLE[who] else 404)
    assert response.status_code == expected, response.content
    sent = Message.objects.unscoped().filter(conversation=conversation, direction="outbound").count()
    assert sent == (1 if expected == 201 else 0)


@pytest.mark.parametrize("who", CALLERS)
def test_starting_a_thread_needs_a_studio_the_caller_may_act_for(world, who, operator):
    """Everyone names A's main studio: its staff and A's manager may; the rest get 404 (or are refused)."""
    with mock.patch("messaging.services.sending.message_send_enqueue"):
        response = client_for(world, who, operator).post(
            "/api/v1/messages/",
            {"to": "+16175559876", "studio_id": world.a.studio.pk, "body": "Hi"},
            content_type="application/json",
        )
    allowed = who in ("staff", "manager")
    assert response.status_code == (refused_status(who) or (201 if allowed else 404)), response.content
    assert Message.objects.unscoped().filter(to_number="+16175559876").count() == (1 if allowed else 0)


@pytest.mark.parametrize("who", CALLERS)
def test_templates_are_listed_for_the_studios_the_caller_may_act_for(world, who, operator):
    response = client_for(world, who, operator).get("/api/v1/templates/")
    if refused_status(who):
        assert response.status_code == refused_status(who)
        return
    expected = {
        "staff": {world.a.studio.pk},
        "east_staff": {world.a.other_studio.pk},
        "manager": {world.a.studio.pk, world.a.other_studio.pk},
        "other_manager": {world.b.studio.pk, world.b.other_studio.pk},
        "other_staff": {world.b.studio.pk},
    }[who]
    assert {row["studio_id"] for row in response.json()} == expected


def test_a_studio_of_another_organization_in_the_filter_shows_nothing(world):
    response = client_for(world, "manager").get(f"/api/v1/conversations/?studio_id={world.b.studio.pk}")
    assert response.json()["results"] == []


def test_the_unassigned_queue_is_the_managers(world):
    manager = client_for(world, "manager").get("/api/v1/conversations/?unassigned=true").json()["results"]
    staff = client_for(world, "staff").get("/api/v1/conversations/?unassigned=true").json()["results"]
    assert [row["id"] for row in manager] == [world.queue.pk]
    assert staff == []


def test_members_of_an_inactive_organization_get_nothing(world):
    world.a.organization.is_active = False
    world.a.organization.save()
    response = client_for(world, "manager").get(f"/api/v1/conversations/{world.main.pk}/")
    assert response.status_code == 403
    assert response.json()["message"] == "You have no active membership in an organization."


def test_a_deactivated_user_is_signed_out(world):
    client = client_for(world, "staff")
    world.a.staff.user.is_active = False
    world.a.staff.user.save()
    assert client.get("/api/v1/conversations/").status_code == 401
