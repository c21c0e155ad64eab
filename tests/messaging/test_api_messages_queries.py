"""A thread's texts cost a fixed number of SQL queries, however many texts and senders the page holds (the widget
loads one on every thread it opens: bench/widget_api.py)."""

from __future__ import annotations

import pytest

from django.test import Client

from tests.factories import MembershipFactory
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

# The session, its user, the membership, the conversation (its visibility), one page of texts with their senders;
# and the savepoint ATOMIC_REQUESTS opens and releases inside the test's transaction.
QUERIES_PER_PAGE = 5 + 2


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
def test_a_page_of_texts_is_a_fixed_number_of_queries(tenant_a, busy_thread, who, query, django_assert_max_num_queries):
    client = Client()
    client.force_login(getattr(tenant_a, who).user)
    with django_assert_max_num_queries(QUERIES_PER_PAGE) as captured:
        response = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/{query}")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == (50 if not query else 60)
    assert {row["sent_by_name"] for row in rows} >= {tenant_a.staff.user.full_name, tenant_a.manager.user.full_name}
    (page_query,) = [q["sql"] for q in captured.captured_queries if 'FROM "messaging_message"' in q["sql"]]
    assert '"password"' not in page_query  # only the columns the page shows


def test_the_next_page_costs_the_same(tenant_a, busy_thread, django_assert_max_num_queries):
    client = Client()
    client.force_login(tenant_a.staff.user)
    first = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/").json()
    with django_assert_max_num_queries(QUERIES_PER_PAGE):
        second = client.get(f"/api/v1/conversations/{busy_thread.pk}/messages/", {"cursor": first["next_cursor"]})
    assert len(second.json()["results"]) == 10
