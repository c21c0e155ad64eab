"""Sending through the API: always `message_send` (validation, opt-out, numbers, who may act), enqueued after
commit. Nothing in messaging is mocked except the hand-off to Celery."""

from __future__ import annotations

from unittest import mock

import pytest

from django.test import Client

from messaging.models import Message
from tests.factories import PhoneNumberFactory
from tests.messaging.factories import ContactFactory, ConversationFactory, OptOutFactory

pytestmark = pytest.mark.django_db
ENQUEUE = "messaging.services.sending.message_send_enqueue"


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def post(client: Client, url: str, data: dict):
    return client.post(url, data, content_type="application/json")


@pytest.fixture
def thread(tenant_a):
    contact = ContactFactory(organization=tenant_a.organization, name="Dana Scully", phone="+16175550123")
    return ConversationFactory(studio=tenant_a.studio, contact=contact)


def test_a_body_is_queued_from_the_studios_own_number_and_enqueued_after_commit(
    tenant_a, thread, django_capture_on_commit_callbacks
):
    with mock.patch(ENQUEUE) as enqueue, django_capture_on_commit_callbacks(execute=True):
        response = post(signed_in(tenant_a.staff), f"/api/v1/conversations/{thread.pk}/messages/", {"body": "Hi!"})
    assert response.status_code == 201, response.content
    data = response.json()
    message = Message.objects.unscoped().get(pk=data["id"])
    assert (message.status, message.body, message.to_number) == ("queued", "Hi!", "+16175550123")
    assert message.phone_number == tenant_a.number
    assert message.sent_by == tenant_a.staff
    assert data["conversation_id"] == thread.pk
    enqueue.assert_called_once_with(message.pk)


def test_a_template_is_filled_in_with_the_contacts_merge_fields(tenant_a, thread):
    tenant_a.studio.welcome_message = "Hi {first_name}, welcome to {studio_name}! {owner_first_name}"
    tenant_a.studio.save()
    with mock.patch(ENQUEUE):
        response = post(
            signed_in(tenant_a.staff),
            f"/api/v1/conversations/{thread.pk}/messages/",
            {"template": "welcome", "merge_fields": {"owner_first_name": "Ana"}},
        )
    assert response.status_code == 201, response.content
    assert response.json()["body"] == f"Hi Dana, welcome to {tenant_a.studio.name}! Ana"


def test_the_follow_up_template_comes_from_the_studios_automation(tenant_a, thread):
    with mock.patch(ENQUEUE):
        response = post(
            signed_in(tenant_a.staff), f"/api/v1/conversations/{thread.pk}/messages/", {"template": "follow_up"}
        )
    assert response.status_code == 201, response.content
    assert response.json()["body"]


def test_an_unknown_merge_field_is_refused(tenant_a, thread):
    response = post(
        signed_in(tenant_a.staff),
        f"/api/v1/conversations/{thread.pk}/messages/",
        {"template": "help", "merge_fields": {"coupon": "X"}},
    )
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "merge_fields"


@pytest.mark.parametrize(
    "payload",
    [{}, {"body": "Hi", "template": "welcome"}, {"template": "birthday"}, {"body": ""}, {"from_number_id": "x"}],
)
def test_invalid_requests_answer_in_the_one_error_shape(tenant_a, thread, payload):
    response = post(signed_in(tenant_a.staff), f"/api/v1/conversations/{thread.pk}/messages/", payload)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "extra"}
    assert body["message"] == "Validation error"
    assert body["extra"]["fields"]
    assert not Message.objects.unscoped().filter(direction="outbound").exists()


def test_a_body_over_the_limit_is_refused_by_message_send(tenant_a, thread):
    response = post(signed_in(tenant_a.staff), f"/api/v1/conversations/{thread.pk}/messages/", {"body": "x" * 1601})
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


def test_an_opted_out_contact_is_refused_with_a_code(tenant_a, thread):
    OptOutFactory(organization=tenant_a.organization, phone=thread.contact.phone)
    with mock.patch(ENQUEUE) as enqueue:
        response = post(signed_in(tenant_a.staff), f"/api/v1/conversations/{thread.pk}/messages/", {"body": "Hi"})
    assert response.status_code == 400
    assert response.json()["extra"] == {"code": "opted_out", "field": "to"}
    enqueue.assert_not_called()


def test_a_shared_number_of_the_organization_may_be_chosen(tenant_a, thread):
    with mock.patch(ENQUEUE):
        response = post(
            signed_in(tenant_a.staff),
            f"/api/v1/conversations/{thread.pk}/messages/",
            {"body": "Hi", "from_number_id": tenant_a.shared_number.pk},
        )
    assert response.status_code == 201
    assert response.json()["from_number"] == tenant_a.shared_number.number


def test_another_studios_own_number_is_refused(tenant_a, thread):
    east_number = PhoneNumberFactory(
        organization=tenant_a.organization, account=tenant_a.twilio, studio=tenant_a.other_studio
    )
    response = post(
        signed_in(tenant_a.manager),
        f"/api/v1/conversations/{thread.pk}/messages/",
        {"body": "Hi", "from_number_id": east_number.pk},
    )
    assert response.status_code == 400
    assert response.json()["extra"] == {"field": "from_number"}


def test_a_number_of_another_organization_is_not_found(tenant_a, tenant_b, thread):
    response = post(
        signed_in(tenant_a.manager),
        f"/api/v1/conversations/{thread.pk}/messages/",
        {"body": "Hi", "from_number_id": tenant_b.number.pk},
    )
    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}


def test_staff_cannot_send_in_the_name_of_a_studio_they_do_not_work_in(tenant_a, thread):
    response = post(
        signed_in(tenant_a.staff),
        f"/api/v1/conversations/{thread.pk}/messages/",
        {"body": "Hi", "studio_id": tenant_a.other_studio.pk},
    )
    assert response.status_code == 404
    assert not Message.objects.unscoped().filter(direction="outbound").exists()


def test_a_manager_sends_in_any_studios_name_and_it_is_recorded(tenant_a, thread):
    with mock.patch(ENQUEUE):
        response = post(
            signed_in(tenant_a.manager),
            f"/api/v1/conversations/{thread.pk}/messages/",
            {"body": "Hi", "studio_id": tenant_a.other_studio.pk},
        )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["studio_id"] == tenant_a.other_studio.pk
    assert data["on_behalf_of_studio"] is True
    assert data["conversation_id"] != thread.pk  # the other studio's own thread with this contact


def test_an_unassigned_thread_needs_a_studio_to_send_from(tenant_a):
    queue = ConversationFactory(studio=None, organization=tenant_a.organization)
    client = signed_in(tenant_a.manager)
    refused = post(client, f"/api/v1/conversations/{queue.pk}/messages/", {"body": "Hi"})
    with mock.patch(ENQUEUE):
        sent = post(
            client, f"/api/v1/conversations/{queue.pk}/messages/", {"body": "Hi", "studio_id": tenant_a.studio.pk}
        )
    assert refused.status_code == 400
    assert refused.json()["extra"] == {"field": "studio_id"}
    assert sent.status_code == 201


def test_a_new_conversation_is_started_with_to_and_studio(tenant_a):
    with mock.patch(ENQUEUE):
        response = post(
            signed_in(tenant_a.staff),
            "/api/v1/messages/",
            {"to": "(617) 555-0199", "studio_id": tenant_a.studio.pk, "template": "welcome", "contact_name": "Fox M"},
        )
    assert response.status_code == 201, response.content
    message = Message.objects.unscoped().select_related("contact", "conversation").get(pk=response.json()["id"])
    assert message.to_number == "+16175550199"  # read in the sending number's country
    assert message.contact.name == "Fox M"
    assert message.conversation.studio == tenant_a.studio
    assert "Fox" in message.body


def test_a_new_conversation_needs_to_and_studio(tenant_a):
    response = post(signed_in(tenant_a.staff), "/api/v1/messages/", {"body": "Hi"})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"to", "studio_id"}


def test_an_invalid_phone_is_refused_with_its_field(tenant_a):
    response = post(
        signed_in(tenant_a.staff), "/api/v1/messages/", {"to": "12", "studio_id": tenant_a.studio.pk, "body": "Hi"}
    )
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "to"


def test_session_posts_need_the_csrf_token(tenant_a, thread):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant_a.staff.user)
    url = f"/api/v1/conversations/{thread.pk}/messages/"
    refused = post(client, url, {"body": "Hi"})
    token = "a" * 32  # what the widget will read from the csrftoken cookie and echo in X-CSRFToken
    client.cookies["csrftoken"] = token
    with mock.patch(ENQUEUE):
        accepted = client.post(url, {"body": "Hi"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    assert accepted.status_code == 201
