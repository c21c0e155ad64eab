"""No double texts from retries: POST /api/v1/messages/ (and a conversation's POST) honour an `Idempotency-Key`
header. The same key from the same member within 24 h answers the first result (status and body) and sends nothing
new; the same key with another request is a 422; concurrent duplicates send once (a database constraint, not a
cache); a refused request keeps no key, so the person can fix the cause and retry the same text."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from messaging.models import Message, SendRequest
from messaging.services import sending
from tests.factories import MembershipFactory
from tests.messaging.factories import ContactFactory, ConversationFactory

ENQUEUE = "messaging.services.sending.message_send_enqueue"
TO = "+16175550123"


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def post(client: Client, url: str, data: dict, key: str | None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, data, content_type="application/json", **headers)


def new_text(tenant, body="Hi Dana!") -> dict:
    return {"to": TO, "studio_id": tenant.studio.pk, "body": body}


def outbound():
    return Message.objects.unscoped().filter(direction="outbound")


@pytest.mark.django_db
def test_the_same_key_answers_the_first_result_and_sends_nothing_new(tenant_a, django_capture_on_commit_callbacks):
    client = signed_in(tenant_a.staff)
    with mock.patch(ENQUEUE) as enqueue, django_capture_on_commit_callbacks(execute=True):
        first = post(client, "/api/v1/messages/", new_text(tenant_a), "compose-1")
        again = post(client, "/api/v1/messages/", new_text(tenant_a), "compose-1")
    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert outbound().count() == 1
    enqueue.assert_called_once_with(first.json()["id"])
    # Another key is another text.
    with mock.patch(ENQUEUE):
        third = post(client, "/api/v1/messages/", new_text(tenant_a), "compose-2")
    assert third.status_code == 201
    assert outbound().count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_a_422_and_sends_nothing(tenant_a):
    client = signed_in(tenant_a.staff)
    with mock.patch(ENQUEUE):
        assert post(client, "/api/v1/messages/", new_text(tenant_a), "k-1").status_code == 201
        other = post(client, "/api/v1/messages/", new_text(tenant_a, body="Something else"), "k-1")
    assert other.status_code == 422
    assert other.json()["extra"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["message"]
    assert outbound().count() == 1


@pytest.mark.django_db
def test_a_key_is_per_member(tenant_a):
    other_staff = MembershipFactory(organization=tenant_a.organization, studios=[tenant_a.studio])
    with mock.patch(ENQUEUE):
        a = post(signed_in(tenant_a.staff), "/api/v1/messages/", new_text(tenant_a), "same")
        b = post(signed_in(other_staff), "/api/v1/messages/", new_text(tenant_a), "same")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.django_db
def test_a_key_older_than_24_hours_sends_again(tenant_a):
    client = signed_in(tenant_a.staff)
    with mock.patch(ENQUEUE):
        first = post(client, "/api/v1/messages/", new_text(tenant_a), "old")
        SendRequest.objects.unscoped().update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
        again = post(client, "/api/v1/messages/", new_text(tenant_a), "old")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
    assert SendRequest.objects.unscoped().count() == 1


@pytest.mark.django_db
def test_a_refused_request_keeps_no_key_so_the_fixed_retry_sends(tenant_a):
    client = signed_in(tenant_a.staff)
    tenant_a.number.is_active = False
    tenant_a.number.save()
    tenant_a.shared_number.is_active = False
    tenant_a.shared_number.save()
    refused = post(client, "/api/v1/messages/", new_text(tenant_a), "retry-me")
    assert refused.status_code == 400
    assert not SendRequest.objects.unscoped().exists()
    tenant_a.number.is_active = True
    tenant_a.number.save()
    with mock.patch(ENQUEUE):
        sent = post(client, "/api/v1/messages/", new_text(tenant_a), "retry-me")
    assert sent.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "naïve", "a\tb"])
def test_a_malformed_key_is_a_400(tenant_a, key):
    response = post(signed_in(tenant_a.staff), "/api/v1/messages/", new_text(tenant_a), key)
    assert response.status_code == 400
    assert response.json()["extra"]["field"] == "Idempotency-Key"
    assert not outbound().exists()


@pytest.mark.django_db
def test_a_conversation_send_honours_the_key_too(tenant_a):
    contact = ContactFactory(organization=tenant_a.organization, phone=TO)
    thread = ConversationFactory(studio=tenant_a.studio, contact=contact)
    client = signed_in(tenant_a.staff)
    url = f"/api/v1/conversations/{thread.pk}/messages/"
    with mock.patch(ENQUEUE):
        first = post(client, url, {"body": "Hi"}, "c-1")
        again = post(client, url, {"body": "Hi"}, "c-1")
        # The same key on the other endpoint is another request.
        elsewhere = post(client, "/api/v1/messages/", new_text(tenant_a, body="Hi"), "c-1")
    assert (first.status_code, again.status_code, elsewhere.status_code) == (201, 201, 422)
    assert again.json() == first.json()
    assert outbound().count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_send_once(tenant_a, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    enqueued: list[int] = []
    monkeypatch.setattr(sending, "message_send_enqueue", lambda message_id, countdown=None: enqueued.append(message_id))
    real_send = sending.message_send
    barrier = threading.Barrier(4)

    def slow_send(**kwargs):
        message = real_send(**kwargs)
        threading.Event().wait(0.3)  # hold the transaction open while the others arrive
        return message

    monkeypatch.setattr("widget.api.messages.message_send", slow_send)
    answers: list = []

    def attempt():
        client = signed_in(tenant_a.staff)
        barrier.wait()
        answers.append(post(client, "/api/v1/messages/", new_text(tenant_a), "race"))
        connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [a.status_code for a in answers] == [201] * 4, [a.content for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert outbound().count() == 1
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_the_header_is_in_the_openapi_schema(tmp_path):
    import yaml

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    for path in ("/api/v1/messages/", "/api/v1/conversations/{id}/messages/"):
        parameters = schema["paths"][path]["post"]["parameters"]
        header = next(p for p in parameters if p["name"] == "Idempotency-Key")
        assert header["in"] == "header"
        assert "24 h" in header["description"]
        assert "422" in schema["paths"][path]["post"]["responses"]
