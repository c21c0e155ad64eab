"""A thread's page is read as plain rows (widget.api.serializers.message_rows_output), not through the model
serializer: the widget must not be able to tell. Also what the one-query page must keep: 404 for a thread that is
not yours whatever the query string, an empty page for an empty thread, and a member refused at once when
deactivated mid-session (the membership is loaded with the session's user, never cached)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.test import Client
from django.utils import timezone

from messaging.models import Message
from tests.factories import MembershipFactory, UserFactory
from tests.messaging.factories import ConversationFactory, MessageFactory
from widget.api.serializers import MessageOutputSerializer

pytestmark = pytest.mark.django_db


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.mark.parametrize("studio", ["assigned", "unassigned"])
def test_a_page_is_what_the_message_serializer_writes(tenant_a, studio):
    conversation = (
        ConversationFactory(studio=tenant_a.studio)
        if studio == "assigned"
        else ConversationFactory(studio=None, organization=tenant_a.organization)
    )
    nameless = MembershipFactory(
        organization=tenant_a.organization, studios=[tenant_a.studio], user=UserFactory(full_name="")
    )
    now = timezone.now()
    MessageFactory(conversation=conversation, body="Hi, is the 6pm class full? ünïcode ✓")
    MessageFactory(conversation=conversation, direction="outbound", sent_by=tenant_a.staff, delivered_at=now)
    MessageFactory(conversation=conversation, direction="outbound", sent_by=nameless, status="failed", error_code="1")
    MessageFactory(conversation=conversation, direction="outbound", kind="automated", on_behalf_of_studio=True)
    for message in Message.objects.unscoped().filter(conversation=conversation):
        message.created_at = now - timedelta(minutes=message.pk)  # microseconds kept, as the clock gives them
        message.save(update_fields=["created_at"])

    page = signed_in(tenant_a.manager).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()

    instances = Message.objects.unscoped().filter(conversation=conversation).order_by("-created_at", "-id")
    assert page["results"] == MessageOutputSerializer(instances, many=True).data
    assert [list(row) for row in page["results"]] == [list(MessageOutputSerializer.Meta.fields)] * 4
    names = {row["sent_by_name"] for row in page["results"]}
    assert names == {None, tenant_a.staff.user.full_name, nameless.user.email}


def test_an_empty_thread_is_an_empty_page(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio)
    response = signed_in(tenant_a.staff).get(f"/api/v1/conversations/{conversation.pk}/messages/")
    assert response.status_code == 200
    assert response.json() == {"next": None, "next_cursor": None, "results": []}


@pytest.mark.parametrize("query", ["?cursor=not-a-cursor", "?page_size=many", "?cursor=WyIyMDI2IiwgMV0"])
def test_a_thread_that_is_not_yours_is_404_whatever_the_query_string(tenant_a, tenant_b, query):
    theirs = ConversationFactory(studio=tenant_b.studio)
    MessageFactory(conversation=theirs)
    other_studio = ConversationFactory(studio=tenant_a.other_studio)
    MessageFactory(conversation=other_studio)
    for member, conversation in ((tenant_a.manager, theirs), (tenant_a.staff, other_studio)):
        response = signed_in(member).get(f"/api/v1/conversations/{conversation.pk}/messages/{query}")
        assert response.status_code == 404
        assert set(response.json()) == {"message", "extra"}


def test_a_bad_cursor_on_your_own_thread_is_a_validation_error(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio)
    MessageFactory(conversation=conversation)
    response = signed_in(tenant_a.staff).get(f"/api/v1/conversations/{conversation.pk}/messages/?cursor=nope")
    assert response.status_code == 400
    assert response.json()["extra"] == {"fields": {"cursor": ["Invalid cursor."]}}


@pytest.mark.parametrize("deactivate", ["membership", "organization", "user"])
def test_a_member_deactivated_mid_session_is_refused_on_the_next_request(tenant_a, deactivate):
    conversation = ConversationFactory(studio=tenant_a.studio)
    MessageFactory(conversation=conversation)
    client = signed_in(tenant_a.staff)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    assert client.get(url).status_code == 200
    target = {"membership": tenant_a.staff, "organization": tenant_a.organization, "user": tenant_a.staff.user}
    target[deactivate].is_active = False
    target[deactivate].save()
    response = client.get(url)
    assert response.status_code == (401 if deactivate == "user" else 403)
    assert set(response.json()) == {"message", "extra"}
