"""The conversation list (filters, search, pages), a thread's texts in keyset pages, mark read, and the base
class that makes a forgotten tenant scope an import-time error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.db.models import QuerySet
from django.test import Client
from django.utils import timezone

from core.api import TenantApi
from messaging.models import Message
from tests.messaging.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters_unread_and_needs_attention(tenant_a):
    unread = ConversationFactory(studio=tenant_a.studio, unread_count=2)
    flagged = ConversationFactory(studio=tenant_a.studio, needs_attention=True, attention_reason="why")
    ConversationFactory(studio=tenant_a.studio)
    client = signed_in(tenant_a.manager)
    assert ids(client.get("/api/v1/conversations/?unread=true")) == [unread.pk]
    assert ids(client.get("/api/v1/conversations/?needs_attention=1")) == [flagged.pk]


def test_search_by_name_or_phone_digits(tenant_a):
    dana = ConversationFactory(
        studio=tenant_a.studio, contact=ContactFactory(organization=tenant_a.organization, name="Dana Scully")
    )
    fox = ConversationFactory(
        studio=tenant_a.studio,
        contact=ContactFactory(organization=tenant_a.organization, name="Fox Mulder", phone="+16175554242"),
    )
    client = signed_in(tenant_a.staff)
    assert ids(client.get("/api/v1/conversations/?q=scul")) == [dana.pk]
    assert ids(client.get("/api/v1/conversations/", {"q": "(617) 555-4242"})) == [fox.pk]


def test_the_list_is_newest_activity_first_in_keyset_pages(tenant_a):
    now = timezone.now()
    threads = [
        ConversationFactory(studio=tenant_a.studio, last_message_at=now - timedelta(minutes=i)) for i in range(5)
    ]
    never = ConversationFactory(studio=tenant_a.studio, last_message_at=None)  # ordered by when it began
    client = signed_in(tenant_a.staff)
    first = client.get("/api/v1/conversations/?page_size=4").json()
    second = client.get(first["next"]).json()
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert seen == [never.pk] + [t.pk for t in threads]
    assert second["next"] is None


def test_filter_parameters_are_validated(tenant_a):
    response = signed_in(tenant_a.staff).get("/api/v1/conversations/?unread=perhaps")
    assert response.status_code == 400
    assert "unread" in response.json()["extra"]["fields"]


def test_a_threads_texts_come_newest_first_with_ties_broken_by_id(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio)
    same_time = timezone.now()
    messages = [MessageFactory(conversation=conversation) for _ in range(7)]
    Message.objects.unscoped().filter(pk__in=[m.pk for m in messages]).update(created_at=same_time)
    client = signed_in(tenant_a.staff)
    url = f"/api/v1/conversations/{conversation.pk}/messages/?page_size=3"
    seen, page = [], client.get(url).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if not page["next_cursor"]:
            break
        page = client.get(url, {"cursor": page["next_cursor"]}).json()
    assert seen == sorted((m.pk for m in messages), reverse=True)


def test_new_texts_do_not_shift_the_next_page(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio)
    old = [MessageFactory(conversation=conversation) for _ in range(4)]
    client = signed_in(tenant_a.staff)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    first = client.get(url, {"page_size": 2}).json()
    MessageFactory(conversation=conversation)  # arrives while the widget reads
    second = client.get(url, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [row["id"] for row in second["results"]] == [old[1].pk, old[0].pk]


def test_a_message_shows_who_sent_it(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio)
    MessageFactory(conversation=conversation, direction="outbound", sent_by=tenant_a.staff)
    row = signed_in(tenant_a.manager).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"][0]
    assert row["sent_by_name"] == tenant_a.staff.user.full_name
    assert row["direction"] == "outbound"


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjogMX0", "WyJub3QgYSBkYXRlIiwgMV0"])
def test_a_bad_cursor_is_a_400_in_the_one_shape(tenant_a, cursor):
    conversation = ConversationFactory(studio=tenant_a.studio)
    response = signed_in(tenant_a.staff).get(f"/api/v1/conversations/{conversation.pk}/messages/?cursor={cursor}")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"cursor": ["Invalid cursor."]}


def test_mark_read_zeroes_the_unread_count(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio, unread_count=4)
    response = signed_in(tenant_a.staff).post(f"/api/v1/conversations/{conversation.pk}/read/")
    conversation.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["unread_count"] == 0
    assert conversation.unread_count == 0


def test_texts_after_the_last_one_seen_stay_unread(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio, unread_count=3)
    seen, *arrived_later = [MessageFactory(conversation=conversation) for _ in range(3)]
    response = signed_in(tenant_a.staff).post(
        f"/api/v1/conversations/{conversation.pk}/read/",
        {"last_seen_message_id": seen.pk},
        content_type="application/json",
    )
    assert response.json()["unread_count"] == len(arrived_later)


def test_an_unknown_id_is_404_in_the_one_shape(tenant_a):
    response = signed_in(tenant_a.manager).get("/api/v1/conversations/999999/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_a_view_without_a_tenant_scope_fails_at_import():
    with pytest.raises(TypeError, match="no tenant scope"):

        class ForgotScopeApi(TenantApi):
            pass


def test_a_view_may_not_replace_get_queryset_or_set_a_queryset():
    with pytest.raises(TypeError, match="must not define get_queryset"):

        class SneakyApi(TenantApi):
            def get_queryset(self) -> QuerySet:
                return Message.objects.unscoped()

    with pytest.raises(TypeError, match="must not define queryset"):

        class ClassQuerysetApi(TenantApi):
            queryset = Message.objects.unscoped()


def test_an_abstract_intermediate_base_needs_no_scope():
    class ThreadApi(TenantApi, abstract=True):
        pass

    class ConcreteApi(ThreadApi):
        def scoped_queryset(self, member):
            return Message.objects.visible_to(member)

    assert ConcreteApi.scoped_queryset
