"""HubSpot app webhooks without HTTP: the signatures agree with HubSpot's own Python client, subscriptions are
checked as HubSpot checks them, and a record change becomes the events HubSpot would send."""

from __future__ import annotations

import itertools

import pytest
from hubspot.utils.signature import Signature

from sandbox.hubspot.state import App, Change, Source
from sandbox.hubspot.webhooks import (
    SubscriptionError,
    WebhookSettings,
    delivery_headers,
    events_for,
    new_subscription,
    signature_v1,
    signature_v2,
    signature_v3,
)

SECRET = "9f2c1c0e-5b8e-4a57-8d0a-1d2f3e4a5b6c"
URL = "https://leadline.example/webhooks/crm/hubspot/events/?x=1"
BODY = '[{"eventId":1,"objectId":123,"propertyName":"firstname","propertyValue":"Zo\\u00eb"}]'


def test_signatures_match_hubspots_own_client() -> None:
    timestamp = "1765127051123"
    assert signature_v3(SECRET, "POST", URL, BODY, timestamp) == Signature.get_signature(
        SECRET, BODY, "v3", http_uri=URL, http_method="POST", timestamp=timestamp
    )
    assert signature_v1(SECRET, BODY) == Signature.get_signature(SECRET, BODY, "v1")
    assert signature_v2(SECRET, "POST", URL, BODY) == Signature.get_signature(SECRET, BODY, "v2", http_uri=URL)
    headers = delivery_headers(SECRET, URL, BODY, 1765127051123, 10_000)
    assert headers["X-HubSpot-Signature-v3"] == signature_v3(SECRET, "POST", URL, BODY, 1765127051123)
    assert headers["X-HubSpot-Signature-Version"] == "v1"
    assert headers["X-HubSpot-Timeout-Millis"] == "10000"
    assert headers["X-HubSpot-Request-Timestamp"] == "1765127051123"
    assert signature_v3("another secret", "POST", URL, BODY, timestamp) != headers["X-HubSpot-Signature-v3"]


def test_subscriptions_name_an_object_type_and_property_changes_a_property() -> None:
    sub = new_subscription({"eventType": "object.creation", "objectTypeId": "0-1"})
    assert (sub.object_type, sub.operation, sub.is_object) == ("contacts", "creation", True)
    assert sub.as_json()["objectTypeId"] == "0-1"
    legacy = new_subscription({"subscriptionType": "deal.propertyChange", "propertyName": "dealstage"})
    assert (legacy.object_type, legacy.property_name, legacy.is_object) == ("deals", "dealstage", False)
    assert "objectTypeId" not in legacy.as_json()
    assert new_subscription({"eventType": "object.deletion", "objectType": "companies"}).object_type == "companies"
    for bad in (
        {"eventType": "object.creation"},
        {"eventType": "contact.propertyChange"},
        {"eventType": "contact.teleport"},
        {"eventType": "widget.creation"},
    ):
        with pytest.raises(SubscriptionError):
            new_subscription(bad)


def change(operation: str, properties: dict | None = None, source: Source | None = None) -> Change:
    return Change(
        portal_id=20000001,
        object_type="contacts",
        object_type_id="0-1",
        operation=operation,
        object_id="1001",
        properties=properties or {},
        source=source or Source.integration("5000001"),
        occurred_at=1765127051123,
    )


def app_with(*specs: dict) -> tuple[App, WebhookSettings]:
    app = App(app_id="5000001", client_id="c", client_secret=SECRET)
    settings = WebhookSettings(target_url=URL)
    for spec in specs:
        sub = new_subscription(spec)
        settings.subscriptions[sub.id] = sub
    return app, settings


def test_a_creation_by_our_app_is_new_and_integration_with_the_app_as_source() -> None:
    app, settings = app_with(
        {"eventType": "object.creation", "objectTypeId": "0-1"},
        {"eventType": "contact.creation"},
        {"eventType": "object.propertyChange", "objectTypeId": "0-1", "propertyName": "lifecyclestage"},
        {"eventType": "object.creation", "objectTypeId": "0-2"},
    )
    ids = itertools.count(1)
    events = events_for(app, settings, change("creation", {"email": "a@b.co", "lifecyclestage": "lead"}), ids.__next__)
    by_type = {event["subscriptionType"]: event for event in events}
    assert sorted(by_type) == ["contact.creation", "object.creation", "object.propertyChange"]
    created = by_type["object.creation"]
    assert created["objectTypeId"] == "0-1"
    assert created["changeFlag"] == "NEW"
    assert (created["changeSource"], created["sourceId"], created["appId"]) == ("INTEGRATION", "5000001", 5000001)
    assert (created["objectId"], created["portalId"], created["attemptNumber"]) == (1001, 20000001, 0)
    assert created["occurredAt"] == 1765127051123
    assert "objectTypeId" not in by_type["contact.creation"]
    changed = by_type["object.propertyChange"]
    assert (changed["propertyName"], changed["propertyValue"]) == ("lifecyclestage", "lead")
    assert "changeFlag" not in changed
    assert len({event["eventId"] for event in events}) == 3


def test_a_persons_edit_is_crm_ui_and_deletions_are_flagged() -> None:
    app, settings = app_with(
        {"eventType": "object.propertyChange", "objectTypeId": "0-1", "propertyName": "firstname"},
        {"eventType": "object.deletion", "objectTypeId": "0-1"},
    )
    ids = itertools.count(1).__next__
    edited = events_for(app, settings, change("propertyChange", {"firstname": "Zoë"}, Source.ui(77)), ids)
    assert [(e["changeSource"], e["sourceId"], e["propertyValue"]) for e in edited] == [("CRM_UI", "userId:77", "Zoë")]
    assert events_for(app, settings, change("propertyChange", {"lastname": "X"}), ids) == []
    deleted = events_for(app, settings, change("deletion"), ids)
    assert [(e["subscriptionType"], e["changeFlag"]) for e in deleted] == [("object.deletion", "DELETED")]
    for sub in settings.subscriptions.values():
        sub.active = False
    assert events_for(app, settings, change("deletion"), ids) == []
