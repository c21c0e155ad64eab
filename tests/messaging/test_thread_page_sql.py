"""The thread page's SQL (messaging.selectors.conversation_thread_page) applies Conversation.objects.visible_to's
rule, for every kind of member and conversation, and reads exactly the conversation's texts in the page order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.utils import timezone

from messaging.models import Conversation, Message
from messaging.selectors import THREAD_PAGE_COLUMNS, _thread_page_orm, conversation_thread_page
from tests.factories import MembershipFactory
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant_a, tenant_b):
    """Conversations of both studios, the unassigned queue and another organization, each with texts; members of
    every kind, active or not."""
    moment = timezone.now() - timedelta(hours=1)
    conversations = [
        ConversationFactory(studio=tenant_a.studio),
        ConversationFactory(studio=tenant_a.other_studio),
        ConversationFactory(studio=None, organization=tenant_a.organization),
        ConversationFactory(studio=tenant_b.studio),
        ConversationFactory(studio=None, organization=tenant_b.organization),
    ]
    for conversation in conversations:
        for i in range(4):  # two pairs of texts sharing a created_at: the id breaks the tie
            MessageFactory(conversation=conversation, created_at=moment + timedelta(seconds=i // 2))
        MessageFactory(conversation=conversation, direction="outbound", sent_by=tenant_a.staff, created_at=moment)
    both = MembershipFactory(organization=tenant_a.organization, studios=[tenant_a.studio, tenant_a.other_studio])
    nowhere = MembershipFactory(organization=tenant_a.organization, studios=[])
    inactive = MembershipFactory(organization=tenant_a.organization, studios=[tenant_a.studio], is_active=False)
    user_inactive = MembershipFactory(organization=tenant_a.organization, manager=True, user__is_active=False)
    members = [tenant_a.manager, tenant_a.staff, both, nowhere, inactive, user_inactive, tenant_b.manager, None]
    return conversations, members


def expected_rows(member, conversation: Conversation) -> list[dict]:
    if not Conversation.objects.visible_to(member).filter(pk=conversation.pk).exists():
        return []
    return list(
        Message.objects.unscoped()
        .filter(conversation=conversation)
        .order_by("-created_at", "-id")
        .values(*THREAD_PAGE_COLUMNS)
    )


@pytest.fixture(params=["sql", "orm"])
def read_page(request):
    """The SQL PostgreSQL runs, and the ORM reader of other databases (SQLite), held to the same expectations."""
    return conversation_thread_page if request.param == "sql" else _thread_page_orm


def test_every_member_sees_a_thread_exactly_when_visible_to_says_so(world, read_page):
    conversations, members = world
    seen = 0
    for member in members:
        for conversation in conversations:
            expected = expected_rows(member, conversation)
            got = read_page(member=member, conversation_id=conversation.pk, before=None, limit=100)
            assert got == expected, (member, conversation)
            seen += bool(expected)
    assert seen == 3 + 1 + 2 + 0 + 0 + 0 + 2  # manager A: 3, staff: 1, both studios: 2, manager B: 2


def test_pages_after_a_cursor_continue_in_order_without_gaps_or_repeats(world, tenant_a, read_page):
    conversations, _ = world
    conversation = conversations[0]
    expected = expected_rows(tenant_a.staff, conversation)
    pages, before = [], None
    while True:
        page = read_page(member=tenant_a.staff, conversation_id=conversation.pk, before=before, limit=2)
        if not page:
            break
        pages.extend(page)
        before = (page[-1]["created_at"], page[-1]["id"])
    assert pages == expected
    assert len(expected) == 5
