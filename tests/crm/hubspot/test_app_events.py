"""HubSpot's app webhook deliveries (signature v3, events to AppEvent): a valid delivery, the wrong secret, a stale or
future timestamp, a tampered body or URL, a delivery signed only the old way, and every kind of event the app is
subscribed to, our own writes' echoes told apart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest

from crm.errors import CrmNotificationInvalid
from crm.providers.hubspot.app_events import app_events_parse
from crm.providers.hubspot.models import HubSpotConnection
from crm.records import ChangeOperation
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

SECRET = "test-hubspot-app-secret"
APP_ID = "777001"
URL = "https://leadline.test/webhooks/crm/hubspot/events/"
PORTAL = 62515


@pytest.fixture(autouse=True)
def _app(settings):
    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.HUBSPOT_APP_ID = APP_ID
    settings.HUBSPOT_WEBHOOK_MAX_AGE_SECONDS = 300


def signed(body: bytes, *, url: str = URL, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    """The headers HubSpot sends: v3 over method + URI + body + timestamp (milliseconds), computed here from the
    published rule rather than by the code under test."""
    stamp = str(int((time.time() - age) * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest(),
        "Content-Type": "application/json",
    }


def event(**fields) -> dict:
    return {
        "eventId": 100,
        "subscriptionId": 234567,
        "portalId": PORTAL,
        "appId": int(APP_ID),
        "occurredAt": 1_764_000_000_000,
        "subscriptionType": "object.creation",
        "objectTypeId": "0-1",
        "attemptNumber": 0,
        "objectId": 65059681032,
        "changeFlag": "NEW",
        "changeSource": "CRM_UI",
        "sourceId": "userId:45678",
        **fields,
    }


def parse(body: bytes, headers: dict[str, str], url: str = URL):
    return app_events_parse(method="POST", url=url, body=body, headers=headers)


def refused(body: bytes, headers: dict[str, str], url: str = URL) -> CrmNotificationInvalid:
    with pytest.raises(CrmNotificationInvalid) as caught:
        parse(body, headers, url)
    return caught.value


def test_a_signed_delivery_of_a_new_contact_is_a_new_lead_of_its_portal():
    body = json.dumps([event()]).encode()
    [found] = parse(body, signed(body))
    assert (found.event_id, found.org_id, found.object, found.record_id) == ("100", str(PORTAL), "lead", "65059681032")
    assert found.operation == ChangeOperation.CREATED
    assert found.occurred_at == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    assert (found.ours, found.attempt) == (False, 0)
    assert found.raw["subscriptionId"] == 234567


def test_headers_are_read_whatever_their_case():
    body = json.dumps([event()]).encode()
    headers = {name.lower(): value for name, value in signed(body).items()}
    assert len(parse(body, headers)) == 1


def test_the_wrong_secret_is_refused_with_401():
    body = json.dumps([event()]).encode()
    assert refused(body, signed(body, secret="another-apps-secret")).status == 401


def test_a_stale_timestamp_is_refused_even_with_a_valid_signature():
    body = json.dumps([event()]).encode()
    assert refused(body, signed(body, age=301)).status == 401
    assert len(parse(body, signed(body, age=240))) == 1  # within the five minutes


def test_a_timestamp_far_in_the_future_is_refused():
    body = json.dumps([event()]).encode()
    assert refused(body, signed(body, age=-600)).status == 401


def test_a_tampered_body_or_another_url_is_refused():
    body = json.dumps([event()]).encode()
    headers = signed(body)
    tampered = json.dumps([event(portalId=99999)]).encode()
    assert refused(tampered, headers).status == 401
    assert refused(body, headers, url=URL.replace("leadline.test", "evil.test")).status == 401


def test_a_delivery_signed_only_the_old_ways_is_refused():
    """v1 (sha256 of secret + body) covers no timestamp: a captured delivery could be replayed forever."""
    body = json.dumps([event()]).encode()
    headers = signed(body)
    del headers["X-HubSpot-Signature-v3"]
    assert refused(body, headers).status == 401
    no_stamp = signed(body)
    del no_stamp["X-HubSpot-Request-Timestamp"]
    assert refused(body, no_stamp).status == 401


def test_no_configured_secret_refuses_everything(settings):
    settings.HUBSPOT_CLIENT_SECRET = ""
    body = json.dumps([event()]).encode()
    assert refused(body, signed(body, secret="")).status == 401


def test_a_verified_body_that_is_no_array_of_events_is_unreadable_400():
    for body in (b"{not json", json.dumps({"eventId": 1}).encode()):
        assert refused(body, signed(body)).status == 400


def test_the_uri_is_signed_with_hubspots_decoded_escapes():
    url = URL + "?account=a%3Ab"
    body = json.dumps([event()]).encode()
    assert len(parse(body, signed(body, url=URL + "?account=a:b"), url=url)) == 1


def test_mixed_event_types_map_to_canonical_objects_and_operations():
    events = [
        event(eventId=1),
        event(eventId=2, subscriptionType="contact.creation", objectTypeId=None, objectId=11),
        event(
            eventId=3,
            subscriptionType="object.propertyChange",
            objectTypeId="0-2",
            objectId=21,
            propertyName="name",
            propertyValue="Peak Gyms",
            changeFlag=None,
        ),
        event(eventId=4, subscriptionType="deal.deletion", objectTypeId=None, objectId=31, changeFlag="DELETED"),
        event(eventId=5, subscriptionType="object.deletion", objectTypeId="0-3", objectId=32, attemptNumber=3),
        event(
            eventId=6, subscriptionType="contact.propertyChange", propertyName="lifecyclestage", propertyValue="lead"
        ),
        event(eventId=7, subscriptionType="contact.privacyDeletion", objectId=12),
        event(eventId=8, subscriptionType="contact.merge", objectId=13),
        event(eventId=9, subscriptionType="object.creation", objectTypeId="2-123456", objectId=41),
    ]
    body = json.dumps(events).encode()
    found = {item.event_id: item for item in parse(body, signed(body))}
    summary = {key: (item.object, item.operation, item.record_id) for key, item in found.items()}
    assert summary == {
        "1": ("lead", ChangeOperation.CREATED, "65059681032"),
        "2": ("lead", ChangeOperation.CREATED, "11"),
        "3": ("account", ChangeOperation.UPDATED, "21"),
        "4": ("deal", ChangeOperation.DELETED, "31"),
        "5": ("deal", ChangeOperation.DELETED, "32"),
        "6": ("lead", ChangeOperation.UPDATED, "65059681032"),
        "7": ("lead", ChangeOperation.DELETED, "12"),
        "8": ("lead", ChangeOperation.UPDATED, "13"),
        "9": ("2-123456", ChangeOperation.CREATED, "41"),  # a custom object keeps HubSpot's id
    }
    assert (found["3"].property_name, found["3"].property_value) == ("name", "Peak Gyms")
    assert found["5"].attempt == 3


def test_our_own_writes_come_back_as_ours():
    events = [
        event(eventId=1, changeSource="INTEGRATION", sourceId=APP_ID),
        event(eventId=2, changeSource="INTEGRATION", sourceId="999999"),  # another app's write
        event(eventId=3, changeSource="API", sourceId=int(APP_ID)),  # our app id whatever the source says
        event(eventId=4, changeSource="CRM_UI", sourceId="userId:45678"),
        event(eventId=5, changeSource="INTEGRATION"),
    ]
    body = json.dumps(events).encode()
    ours = {item.event_id: item.ours for item in parse(body, signed(body))}
    assert ours == {"1": True, "2": False, "3": True, "4": False, "5": False}


def test_a_write_by_the_app_the_delivery_is_for_is_ours_whatever_app_id_is_configured(settings):
    """An account connected through its own app: the delivery's appId is that app, and so is its writes' sourceId."""
    settings.HUBSPOT_APP_ID = ""
    events = [
        event(eventId=1, appId=555, changeSource="INTEGRATION", sourceId="555"),
        event(eventId=2, appId=555, changeSource="INTEGRATION", sourceId="999"),
    ]
    body = json.dumps(events).encode()
    assert [item.ours for item in parse(body, signed(body))] == [True, False]


def test_an_event_that_names_no_portal_object_or_id_is_left_out_and_the_rest_read():
    events = [event(eventId=1), event(eventId=2, portalId=None), event(eventId=3, objectId=None), "junk", event()]
    events[-1] = event(eventId=4, subscriptionType="")
    body = json.dumps(events).encode()
    assert [item.event_id for item in parse(body, signed(body))] == ["1"]


def own_app_account(slug: str, hub_id: str, *, client_secret: str) -> ProviderAccount:
    organization = OrganizationFactory(slug=slug)
    account = ProviderAccount.unscoped_objects.create(
        organization=organization,
        name=f"{slug}-hubspot",
        kind="hubspot",
        client_id=f"{slug}-own-app",
        client_secret=client_secret,
        refresh_token="r",
    )
    HubSpotConnection.unscoped_objects.create(
        organization=organization, account=account, hub_id=hub_id, state=HubSpotConnection.State.CONNECTED
    )
    return account


def test_a_delivery_of_an_accounts_own_app_counts_for_that_accounts_portal_only(db):
    own_app_account("solo", "777", client_secret="solo-own-secret")
    own_app_account("other", "888", client_secret="other-own-secret")
    body = json.dumps([event(eventId=1, portalId=777), event(eventId=2, portalId=888)]).encode()
    assert [item.org_id for item in parse(body, signed(body, secret="solo-own-secret"))] == ["777"]
    # One customer's secret cannot speak for another customer's portal.
    forged = json.dumps([event(eventId=3, portalId=888)]).encode()
    assert refused(forged, signed(forged, secret="solo-own-secret")).status == 401
    # Our app's secret still counts for every portal.
    assert [item.org_id for item in parse(body, signed(body))] == ["777", "888"]
