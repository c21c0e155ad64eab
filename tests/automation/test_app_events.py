"""The app-events URL of a CRM that posts every connected account's events to one place
(`POST /webhooks/crm/<kind>/events/`), with HubSpot's signed deliveries: each event reaches only the organization
whose connection holds its portal, a re-delivery records nothing new, a stale or wrongly signed delivery is refused,
and events that start nothing (our own writes' echoes, changes, unknown portals, automation off) are answered 200
and only logged. The recorded event is then turned into an intake on exactly the connection it names."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from automation.models import AutomationSettings, AutomationStep, LeadIntake
from automation.services import discovered
from automation.services import intake as intake_service
from automation.services.intake import lead_event_process, lead_intake_process
from core.models import InboundEvent
from core.webhooks import EventFlagged
from crm.providers.hubspot.app_events import signature_v3
from crm.providers.hubspot.models import HubSpotConnection
from crm.records import CanonicalRecord
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

SECRET = "app-events-test-secret"
APP_ID = "31337"
PATH = "/webhooks/crm/hubspot/events/"
HUB_A, HUB_B = "1001", "2002"


@pytest.fixture(autouse=True)
def _app(settings, monkeypatch):
    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.HUBSPOT_APP_ID = APP_ID
    settings.PUBLIC_BASE_URL = "https://leadline.test"
    monkeypatch.setattr(intake_service, "lead_intake_enqueue", lambda *args, **kwargs: None)


def connected(slug: str, hub_id: str, *, automation: bool | None = True) -> ProviderAccount:
    organization = OrganizationFactory(slug=slug)
    account = ProviderAccount.unscoped_objects.create(
        organization=organization, name=f"{slug}-hubspot", kind="hubspot", is_default=True, refresh_token="r"
    )
    HubSpotConnection.unscoped_objects.create(
        organization=organization, account=account, hub_id=hub_id, state=HubSpotConnection.State.CONNECTED
    )
    if automation is not None:
        AutomationSettings.unscoped_objects.create(organization=organization, is_enabled=automation)
    return account


@pytest.fixture
def a() -> ProviderAccount:
    return connected("alpha", HUB_A)


@pytest.fixture
def b() -> ProviderAccount:
    return connected("bravo", HUB_B)


def event(event_id: int, portal: str, object_id: int, **fields) -> dict:
    """A new contact added by a person in the portal, unless `fields` say otherwise."""
    kind = {"subscriptionType": "object.creation", "objectTypeId": "0-1", "changeSource": "CRM_UI"}
    return {"eventId": event_id, "portalId": int(portal), "appId": int(APP_ID), "objectId": object_id, **kind, **fields}


def deliver(client, events, *, secret: str = SECRET, age: float = 0.0, path: str = PATH):
    """A delivery as HubSpot signs it (the signature rule itself is tested in tests/crm/hubspot)."""
    body = json.dumps(events).encode()
    stamp = str(int((time.time() - age) * 1000))
    url = f"https://leadline.test{path}"
    signature = signature_v3(secret=secret, method="POST", url=url, body=body, timestamp=stamp)
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}
    return client.post(path, data=body, content_type="application/json", headers=headers)


def recorded(organization=None):
    events = InboundEvent.objects.filter(source="hubspot.lead").order_by("id")
    return list(events.filter(organization=organization) if organization is not None else events)


def test_a_new_contact_is_recorded_for_the_organization_holding_its_portal_only(client, a, b):
    answer = deliver(client, [event(1, HUB_A, 501)])
    assert answer.status_code == 200
    [row] = recorded()
    assert row.organization == a.organization
    assert row.idempotency_key == f"hubspot:event:{HUB_A}:1"
    assert (row.payload["lead_id"], row.payload["connection_id"]) == ("501", a.pk)
    assert row.payload["event"]["objectId"] == 501
    assert recorded(b.organization) == []


def test_one_delivery_with_two_portals_events_gives_each_organization_its_own(client, a, b):
    # The same event id in two portals: HubSpot promises no id unique across accounts, so neither hides the other.
    assert deliver(client, [event(7, HUB_A, 501), event(7, HUB_B, 601)]).status_code == 200
    assert [(row.payload["lead_id"], row.payload["connection_id"]) for row in recorded(a.organization)] == [
        ("501", a.pk)
    ]
    assert [(row.payload["lead_id"], row.payload["connection_id"]) for row in recorded(b.organization)] == [
        ("601", b.pk)
    ]


def test_a_redelivery_records_nothing_new(client, a):
    first = event(3, HUB_A, 501)
    assert deliver(client, [first]).status_code == 200
    again = {**first, "attemptNumber": 1}  # HubSpot's retry: the same event, a new attempt and signature
    assert deliver(client, [again]).json() == {"status": "received", "recorded": 0}
    assert len(recorded()) == 1


def test_a_stale_or_wrongly_signed_delivery_is_refused_and_records_nothing(client, a):
    assert deliver(client, [event(1, HUB_A, 501)], age=400).status_code == 401
    assert deliver(client, [event(1, HUB_A, 501)], secret="someone-else").status_code == 401
    unsigned = client.post(PATH, data=json.dumps([event(1, HUB_A, 501)]), content_type="application/json")
    assert unsigned.status_code == 401
    assert InboundEvent.objects.count() == 0


def test_an_unknown_portal_is_logged_and_answered_200(client, a):
    answer = deliver(client, [event(1, "999999", 501)])
    assert answer.status_code == 200
    assert recorded() == []


def test_a_disconnected_portal_is_unknown(client, a):
    HubSpotConnection.unscoped_objects.filter(account=a).update(state=HubSpotConnection.State.NOT_CONNECTED)
    assert deliver(client, [event(1, HUB_A, 501)]).status_code == 200
    assert recorded() == []


def test_our_own_writes_changes_and_other_objects_start_nothing(client, a):
    events = [
        event(1, HUB_A, 501, changeSource="INTEGRATION", sourceId=APP_ID),  # a contact we created
        event(2, HUB_A, 502, subscriptionType="object.propertyChange", propertyName="leadline_sms_opt_out"),
        event(3, HUB_A, 503, subscriptionType="contact.propertyChange", changeSource="INTEGRATION", sourceId=APP_ID),
        event(4, HUB_A, 504, objectTypeId="0-2"),  # a company
        event(5, HUB_A, 505, subscriptionType="object.deletion"),
        event(6, HUB_A, 506, changeSource="INTEGRATION", sourceId="424242"),  # another app's new contact: a lead
    ]
    assert deliver(client, events).json() == {"status": "received", "recorded": 1}
    assert [row.payload["lead_id"] for row in recorded()] == ["506"]


def test_an_organization_without_lead_automation_gets_no_intakes(client):
    connected("off", HUB_A, automation=False)
    connected("unset", HUB_B, automation=None)
    assert deliver(client, [event(1, HUB_A, 501), event(2, HUB_B, 601)]).status_code == 200
    assert recorded() == []


def test_a_verified_but_unreadable_delivery_is_kept_for_a_person_and_answered_200(client, a):
    assert deliver(client, {"not": "an array"}).status_code == 200
    [row] = InboundEvent.objects.all()
    assert (row.source, row.status, row.organization) == ("hubspot.app_events", InboundEvent.Status.FLAGGED, None)


def test_a_crm_without_app_events_or_an_unknown_one_has_no_such_url(client):
    assert deliver(client, [], path="/webhooks/crm/zoho/events/").status_code == 404
    assert deliver(client, [], path="/webhooks/crm/pipedrive/events/").status_code == 404


def test_the_recorded_event_becomes_an_intake_on_the_connection_it_names(client, a, b):
    other_default = ProviderAccount.unscoped_objects.create(
        organization=a.organization, name="alpha-hubspot-2", kind="hubspot", is_default=False, refresh_token="r"
    )
    ProviderAccount.unscoped_objects.filter(pk=a.pk).update(is_default=False)
    ProviderAccount.unscoped_objects.filter(pk=other_default.pk).update(is_default=True)
    deliver(client, [event(1, HUB_A, 501)])
    [row] = recorded()
    lead_event_process(row)
    intake = LeadIntake.objects.unscoped().get()
    assert (intake.organization, intake.connection_id, intake.crm_record_id) == (a.organization, a.pk, "501")


def test_an_event_naming_another_organizations_connection_is_refused(a, b):
    row = InboundEvent.objects.create(
        source="hubspot.lead",
        idempotency_key="forged",
        organization=a.organization,
        payload={"lead_id": "501", "connection_id": b.pk, "event": {}},
    )
    with pytest.raises(EventFlagged, match="not one of the organization's"):
        lead_event_process(row)
    assert LeadIntake.objects.unscoped().count() == 0


class NotALead:
    """A provider whose CRM says the record is no lead (HubSpot: a contact in a customer stage); it fails the test
    if anything is written."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def supports(self, capability) -> bool:
        return True

    def record(self, *, object, record_id):
        stamp = datetime.now(UTC)
        return CanonicalRecord(object=object, id=record_id, modified_time=stamp, created_time=stamp, name="Cass Tomer")

    def not_a_lead_reason(self, *, record) -> str:
        return self.reason

    def create_task(self, **kwargs):
        raise AssertionError("no task for a record that is no lead")


def test_a_record_the_crm_says_is_no_lead_ends_skipped_with_the_reason(a, monkeypatch):
    reason = "lifecycle stage customer is not one of the lead stages (lead)"
    monkeypatch.setattr(intake_service, "provider_for", lambda *args, **kwargs: NotALead(reason))
    intake = LeadIntake.unscoped_objects.create(organization=a.organization, connection=a, crm_record_id="777")
    assert lead_intake_process(intake_id=intake.pk).outcome == "done"
    intake.refresh_from_db()
    assert (intake.status, intake.crm_task_id, intake.welcome_message) == (LeadIntake.Status.DONE, "", None)
    [step] = AutomationStep.objects.unscoped().filter(lead_intake=intake)
    assert (step.step, step.outcome) == ("not_a_lead", "skipped")
    assert reason in step.detail


def test_a_record_found_by_the_mirror_that_is_no_lead_is_skipped_at_once(a, monkeypatch):
    monkeypatch.setattr(discovered, "provider_for", lambda *args, **kwargs: NotALead("no lead stage"))
    record = NotALead("").record(object="lead", record_id="888")
    [intake] = discovered.lead_intakes_discovered(
        organization=a.organization, connection=a, records=[record], sync_interval=timedelta(minutes=15)
    )
    assert (intake.status, intake.source, intake.next_attempt_at) == (LeadIntake.Status.DONE, "mirror", None)
    [step] = AutomationStep.objects.unscoped().filter(lead_intake=intake)
    assert (step.step, step.outcome) == ("not_a_lead", "skipped")
    assert "no lead stage" in step.detail
