"""HubSpot app webhooks over real HTTP: settings and subscriptions through the control API, signed JSON arrays to
a receiver (checked with HubSpot's own client's Signature), who made the change (INTEGRATION + app id, CRM_UI +
userId), installs only, batches, retries with attemptNumber on the sandbox clock, timeouts, pausing and flushing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hubspot.utils.signature import Signature
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.server import QuietRequestHandler
from tests.sandbox.hubspot.hs_support import Hub, control, new_hub, ok


@dataclass
class Receiver:
    """The product's webhook endpoint, played: records each request; answers `statuses` in turn (then 200)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(as_text=True)
        self.received.append({"url": request.url, "headers": dict(request.headers), "body": body})
        if self.delay:
            time.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)

    def events(self) -> list[dict[str, Any]]:
        return [event for item in self.received for event in json.loads(item["body"])]

    def wait_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # and nothing more comes
        return self.events()

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, self.received
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = make_server("127.0.0.1", 0, found, threaded=True, request_handler=QuietRequestHandler)
    found.url = f"http://127.0.0.1:{server.server_port}/webhooks/crm/hubspot/events/?portal=any"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()


def hooks(hub: Hub, method: str, path: str = "", status: int = 200, **kwargs: Any) -> Any:
    return ok(control(hub.server, method, f"/apps/{hub.app['app_id']}/webhooks{path}", **kwargs), status)


def subscribe(hub: Hub, receiver: Receiver, *specs: dict[str, Any], **settings: Any) -> list[dict[str, Any]]:
    hooks(hub, "PUT", "/settings", json={"targetUrl": receiver.url, "maxConcurrentRequests": 10, **settings})
    return [hooks(hub, "POST", "/subscriptions", 201, json=spec) for spec in specs]


def attempts(hub: Hub, count: int, timeout: float = 10.0) -> dict[str, Any]:
    """The delivery log once it lists `count` attempts (the sender logs an attempt after the answer came back)."""
    deadline = time.monotonic() + timeout
    log = hooks(hub, "GET", "/deliveries")
    while len(log["attempts"]) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        log = hooks(hub, "GET", "/deliveries")
    assert len(log["attempts"]) >= count, log
    return log


def configure(hs_server, **config: Any) -> None:
    ok(requests.patch(f"{hs_server.url}/_sandbox/config", json=config, timeout=10))


CREATION = {"eventType": "object.creation", "objectTypeId": "0-1"}
STAGE = {"eventType": "object.propertyChange", "objectTypeId": "0-1", "propertyName": "lifecyclestage"}
DELETION = {"eventType": "object.deletion", "objectTypeId": "0-1"}


def test_an_apps_own_write_arrives_signed_as_integration_with_its_app_id(hub: Hub, receiver: Receiver) -> None:
    subs = subscribe(hub, receiver, CREATION, STAGE, {"eventType": "contact.creation"})
    assert [sub["eventType"] for sub in hooks(hub, "GET")["subscriptions"]] == [s["eventType"] for s in subs]
    made = hub.create("contacts", {"email": "new@lead.test", "lifecyclestage": "lead", "firstname": "Ana"})
    delivery = receiver.wait(1)[0]
    headers, body = delivery["headers"], delivery["body"]
    secret = hub.app["client_secret"]
    assert Signature.is_valid(
        headers["X-Hubspot-Signature-V3"],
        secret,
        body,
        http_uri=receiver.url,
        signature_version="v3",
        timestamp=headers["X-Hubspot-Request-Timestamp"],
    )
    assert Signature.is_valid(headers["X-Hubspot-Signature"], secret, body, signature_version="v1")
    assert headers["X-Hubspot-Signature-Version"] == "v1"
    assert headers["X-Hubspot-Timeout-Millis"] == "10000"
    assert headers["Content-Type"] == "application/json"
    events = {event["subscriptionType"]: event for event in json.loads(body)}
    assert sorted(events) == ["contact.creation", "object.creation", "object.propertyChange"]
    created = events["object.creation"]
    assert created["objectId"] == int(made["id"])
    assert created["objectTypeId"] == "0-1"
    assert created["changeFlag"] == "NEW"
    assert created["changeSource"] == "INTEGRATION"
    assert created["sourceId"] == str(hub.app["app_id"])
    assert created["appId"] == int(hub.app["app_id"])
    assert created["portalId"] == hub.portal_id
    assert created["attemptNumber"] == 0
    assert created["subscriptionId"] == subs[0]["id"]
    assert events["object.propertyChange"]["propertyValue"] == "lead"
    log = attempts(hub, 1)
    assert [(a["attemptNumber"], a["status"], a["delivered"]) for a in log["attempts"]] == [(0, 200, True)]


def test_a_persons_edit_and_an_archive_and_portals_without_the_install(hub: Hub, receiver: Receiver) -> None:
    subscribe(hub, receiver, STAGE, DELETION)
    record = hub.seed("contacts", 1)
    record_id = record["first_id"]
    person = {"user_id": 700001}
    ok(
        hub.control(
            "PATCH", f"/records/contacts/{record_id}", json={"properties": {"lifecyclestage": "customer"}, **person}
        )
    )
    ok(hub.control("PATCH", f"/records/contacts/{record_id}", json={"properties": {"jobtitle": "Coach"}, **person}))
    assert hub.api("DELETE", f"/crm/v3/objects/contacts/{record_id}").status_code == 204
    other = new_hub(hub.server, name="Not installed")  # another app's install: ours hears nothing from it
    other.create("contacts", {"email": "x@other.test", "lifecyclestage": "lead"})
    events = receiver.wait_events(2)
    assert [(e["subscriptionType"], e.get("propertyValue"), e.get("changeFlag")) for e in events] == [
        ("object.propertyChange", "customer", None),
        ("object.deletion", None, "DELETED"),
    ]
    assert events[0]["changeSource"] == "CRM_UI"
    assert events[0]["sourceId"] == "userId:700001"
    assert (events[1]["changeSource"], events[1]["sourceId"]) == ("INTEGRATION", str(hub.app["app_id"]))
    assert {event["portalId"] for event in events} == {hub.portal_id}


def test_failures_are_retried_with_the_next_attempt_number_on_the_sandbox_clock(
    hs_server, hub: Hub, receiver: Receiver
) -> None:
    configure(hs_server, hs_webhook_retry_seconds=60, hs_webhook_max_attempts=3)
    receiver.statuses = [500, 503, 500]
    subscribe(hub, receiver, CREATION)
    hub.create("contacts", {"email": "retry@lead.test"})
    receiver.wait(1)
    time.sleep(0.3)
    assert len(receiver.received) == 1  # the retry waits for the sandbox clock
    first = attempts(hub, 1)["attempts"][0]
    assert first["nextAttemptAt"] - first["sentAt"] == pytest.approx(60_000, abs=50)
    ok(requests.post(f"{hs_server.url}/_sandbox/clock", json={"advance_seconds": 61}, timeout=10))
    receiver.wait(2)
    attempts(hub, 2)  # its retry is scheduled once its answer is logged
    ok(requests.post(f"{hs_server.url}/_sandbox/clock", json={"advance_seconds": 119}, timeout=10))
    time.sleep(0.3)
    assert len(receiver.received) == 2  # the second retry waits twice as long
    ok(requests.post(f"{hs_server.url}/_sandbox/clock", json={"advance_seconds": 2}, timeout=10))
    receiver.wait(3)
    time.sleep(0.3)
    numbers = [json.loads(item["body"])[0]["attemptNumber"] for item in receiver.received]
    assert numbers == [0, 1, 2]
    assert len({json.loads(item["body"])[0]["eventId"] for item in receiver.received}) == 1
    log = attempts(hub, 3)
    assert [a["status"] for a in log["attempts"]] == [500, 503, 500]
    assert log["attempts"][-1]["nextAttemptAt"] is None  # hs_webhook_max_attempts reached: given up
    assert log["retries"] == []


def test_a_slow_answer_is_a_failure_and_flush_sends_what_waits(hs_server, hub: Hub, receiver: Receiver) -> None:
    configure(hs_server, hs_webhook_timeout_seconds=0.3, hs_webhook_batch_max=2)
    subscribe(hub, receiver, CREATION, paused=True)
    for number in range(5):
        hub.create("contacts", {"email": f"batch{number}@lead.test"})
    time.sleep(0.2)
    assert receiver.received == []
    assert hooks(hub, "GET", "/deliveries")["pending"] == 5
    receiver.delay = 0.5  # longer than hs_webhook_timeout_seconds
    made = hooks(hub, "POST", "/flush")["attempts"]
    assert [len(attempt["eventIds"]) for attempt in made] == [2, 2, 1]
    assert not any(attempt["delivered"] for attempt in made)
    assert all("Timeout" in attempt["error"] for attempt in made)
    assert all(attempt["nextAttemptAt"] for attempt in made)
    receiver.delay = 0.0
    again = hooks(hub, "POST", "/flush", json={"allRetries": True})["attempts"]
    assert [attempt["attemptNumber"] for attempt in again] == [1] * len(again)
    assert all(attempt["delivered"] for attempt in again)
    assert hooks(hub, "GET", "/deliveries")["retries"] == []


def test_subscriptions_refused_switched_off_and_removed(hub: Hub, receiver: Receiver) -> None:
    assert control(hub.server, "POST", "/apps/nope/webhooks/subscriptions", json=CREATION).status_code == 404
    bad = control(hub.server, "POST", f"/apps/{hub.app['app_id']}/webhooks/subscriptions", json={"eventType": "x.y"})
    assert bad.status_code == 400
    (sub,) = subscribe(hub, receiver, CREATION)
    assert hooks(hub, "PATCH", f"/subscriptions/{sub['id']}", json={"active": False})["active"] is False
    hub.create("contacts", {"email": "quiet@lead.test"})
    time.sleep(0.2)
    assert receiver.received == []
    hooks(hub, "DELETE", f"/subscriptions/{sub['id']}", 204)
    assert hooks(hub, "GET")["subscriptions"] == []
