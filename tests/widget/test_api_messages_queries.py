"""A thread's texts cost a fixed number of SQL queries, however many texts and senders the page holds (the widget
loads one on every thread it opens: bench/widget_api.py)."""

from __future__ import annotations

import pytest

from django.test import Client

from identity.tokens import widget_token_issue
from tests.factories import MembershipFactory
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

# The user with their membership (the session itself is read from the cache), and one page of texts with their
# senders that also checks the conversation is visible; and the savepoint the API opens and releases because a
# test runs inside a transaction (in production a read opens no transaction at all).
QUERIES_PER_PAGE = 2 + 2


@pytest.fixture
def busy_thread(tenant_a):
    """60 texts: inbound, and outbound by four different colleagues and by automation."""
    conversation = ConversationFactory(studio=tenant_a.studio)
    senders = [tenant_a.staff, tenant_a.manager] + [
        MembershipFactory(organization=tenant_a.organization, studios=[tenant_a.studio]) for _ in range(2)
    ]
    for i in range(60):
        if i % 3 == 0:
            MessageFactory(conversation=conversation)
        else:
            MessageFactory(conversation=conversation, direction="outbound", sent_by=senders[i % 4] if i % 5 else None)
    return conversation


@pytest.mark.parametrize("who", ["staff", "manager"])
@pytest.mark.parametrize("query", ["", "?page_size=200"])
def test_a_page_of_texts_is_a_fixed_number_of_queries(tenant_a, busy_thread, who, query, django_assert_num_queries):
    client = Client()
    client.force_login(getattr(tenant_a, who).user)
    client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/")  # the session is in the cache from now on
    with django_assert_num_queries(QUERIES_PER_PAGE) as captured:
        response = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/{query}")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == (50 if not query else 60)
    assert {row["sent_by_name"] for row in rows} >= {tenant_a.staff.user.full_name, tenant_a.manager.user.full_name}
    (page_query,) = [q["sql"] for q in captured.captured_queries if "FROM messaging_message" in q["sql"]]
    assert "password" not in page_query  # only the columns the page shows


def test_the_next_page_costs_the_same(tenant_a, busy_thread, django_assert_num_queries):
    client = Client()
    client.force_login(tenant_a.staff.user)
    first = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/").json()
    with django_assert_num_queries(QUERIES_PER_PAGE):
        second = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/", {"cursor": first["next_cursor"]})
    assert len(second.json()["results"]) == 10


def test_a_page_by_widget_token_is_as_many_queries(tenant_a, busy_thread, django_assert_num_queries):
    token, _ = widget_token_issue(membership=tenant_a.staff)
    client = Client(headers={"Authorization": f"Bearer {token}"})
    # The token with its member, user and organization; the page.
    with django_assert_num_queries(QUERIES_PER_PAGE):
        response = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/")
    assert len(response.json()["results"]) == 50


def test_a_thread_that_is_not_yours_costs_one_more_query_and_is_404(tenant_b, busy_thread, django_assert_num_queries):
    client = Client()
    client.force_login(tenant_b.manager.user)
    client.get("/api/v1/conversations/")  # the session is in the cache from now on
    # The page reads nothing; only then is the conversation looked up, to tell "not yours" from "no texts yet"
    # (and the test's savepoint is rolled back after the error).
    with django_assert_num_queries(QUERIES_PER_PAGE + 1 + 1):
        response = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/")
    assert response.status_code == 404
