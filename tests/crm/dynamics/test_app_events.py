"""Dataverse's webhook deliveries (the execution context of a step, the x-leadline-webhook-key header): a valid
delivery of a new lead, the wrong key, no key, an environment nobody holds or one disconnected, a body that is no
context, and every message and table mapped; our application user's own writes told apart. The contexts are built
here by hand in the shape of Microsoft's published example (use-webhooks.md), not by the emulator."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from crm.errors import CrmNotificationInvalid
from crm.providers.dynamics.app_events import app_events_parse, wcf_datetime
from crm.providers.dynamics.models import DynamicsConnection
from crm.records import ChangeOperation
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "https://leadline.test/webhooks/crm/dynamics/events/"
HEADER = "x-leadline-webhook-key"
ORG_ID = "4ef5b371-e89e-e711-8122-000d3aa2331c"
OTHER_ORG_ID = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"
APP_USER = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
PERSON = "75c2dd85-e89e-e711-8122-000d3aa2331c"
LEAD_ID = "6d81597f-0f9f-e711-8122-000d3aa2331c"
SECRET = "harbor-webhook-key-0123456789abcdefghijklmnopq"


def connected(slug: str, org_id: str, *, secret: str = SECRET, state: str = "connected") -> DynamicsConnection:
    organization = OrganizationFactory(slug=slug)
    account = ProviderAccount.unscoped_objects.create(
        organization=organization, name=f"{slug}-dynamics", kind="dynamics", api_domain=f"https://{slug}.crm.test"
    )
    return DynamicsConnection.unscoped_objects.create(
        organization=organization,
        account=account,
        org_id=org_id,
        application_user_id=APP_USER,
        webhook_secret=secret,
        state=state,
    )


@pytest.fixture
def harbor() -> DynamicsConnection:
    return connected("harbor", ORG_ID)


def context(**fields) -> dict:
    """A lead Create's RemoteExecutionContext (stage 40, asynchronous) by a person, unless `fields` say otherwise."""
    record_id = fields.pop("record_id", LEAD_ID)
    table = fields.get("PrimaryEntityName", "lead")
    target = {
        "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Attributes": [
            {"key": "firstname", "value": "Maya"},
            {"key": "lastname", "value": "Lin"},
            {"key": "mobilephone", "value": "(415) 555-0142"},
            {"key": f"{table}id", "value": record_id},
        ],
        "EntityState": None,
        "FormattedValues": [],
        "Id": record_id,
        "KeyAttributes": [],
        "LogicalName": table,
        "RelatedEntities": [],
        "RowVersion": None,
    }
    return {
        "BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c",
        "CorrelationId": "b374239d-4233-41a9-8b17-a86cb4f737b5",
        "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "11111111-2222-4333-8444-555555555555",
        "InitiatingUserId": PERSON,
        "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": "Create",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1506409448000-0700)/",
        "OperationId": "4af10637-4ea2-e711-8122-000d3aa2331c",
        "OrganizationId": ORG_ID,
        "OrganizationName": "harborfit",
        "OutputParameters": [{"key": "id", "value": record_id}],
        "OwningExtension": {"Id": "75417616-4ea2-e711-8122-000d3aa2331c", "LogicalName": "sdkmessageprocessingstep"},
        "ParentContext": None,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": record_id,
        "PrimaryEntityName": "lead",
        "RequestId": None,
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserId": PERSON,
        **fields,
    }


def headers(secret: str | None = SECRET, **extra: str) -> dict[str, str]:
    """What Dataverse sends: its own headers, and the registration's HttpHeader key."""
    sent = {
        "Content-Type": "application/json",
        "x-ms-dynamics-organization": "harborfit.crm.dynamics.com",
        "x-ms-dynamics-entity-name": "lead",
        "x-ms-dynamics-request-name": "Create",
        "x-ms-correlation-request-id": str(uuid.uuid4()),
        **extra,
    }
    if secret is not None:
        sent[HEADER] = secret
    return sent


def body(**fields) -> bytes:
    return json.dumps(context(**fields)).encode()


def parse(data: bytes, sent: dict[str, str]):
    return app_events_parse(method="POST", url=URL, body=data, headers=sent)


def refused(data: bytes, sent: dict[str, str]) -> CrmNotificationInvalid:
    with pytest.raises(CrmNotificationInvalid) as caught:
        parse(data, sent)
    return caught.value


def test_a_new_lead_by_a_person_is_a_created_lead_of_its_environment(harbor):
    [found] = parse(body(), headers())
    assert (found.org_id, found.object, found.record_id) == (ORG_ID, "lead", LEAD_ID)
    assert found.operation == ChangeOperation.CREATED
    assert found.event_id == "4af10637-4ea2-e711-8122-000d3aa2331c"  # the async operation: the same on each retry
    assert found.occurred_at == datetime(2017, 9, 26, 7, 4, 8, tzinfo=UTC)
    assert (found.ours, found.attempt) == (False, 0)
    assert found.raw["UserId"] == PERSON
    assert "InputParameters" not in found.raw  # the lead's details are read from Dataverse, not kept twice


def test_the_header_is_read_whatever_its_case(harbor):
    sent = headers(secret=None, **{"X-Leadline-Webhook-Key": SECRET})
    assert len(parse(body(), sent)) == 1


def test_guids_are_taken_in_any_case_and_with_braces(harbor):
    [found] = parse(body(OrganizationId="{" + ORG_ID.upper() + "}", PrimaryEntityId=LEAD_ID.upper()), headers())
    assert (found.org_id, found.record_id) == (ORG_ID, LEAD_ID)


def test_a_missing_or_wrong_key_is_refused_with_the_same_401(harbor):
    wrong = refused(body(), headers(secret="not-the-key"))
    missing = refused(body(), headers(secret=None))
    empty = refused(body(), headers(secret=""))
    prefix = refused(body(), headers(secret=SECRET[:-1]))
    assert {error.status for error in (wrong, missing, empty, prefix)} == {401}
    assert len({error.message for error in (wrong, missing, empty, prefix)}) == 1  # no hint which


def test_another_environments_key_does_not_open_this_one(harbor):
    connected("other", OTHER_ORG_ID, secret="the-other-studios-key")
    assert refused(body(), headers(secret="the-other-studios-key")).status == 401
    assert len(parse(body(OrganizationId=OTHER_ORG_ID), headers(secret="the-other-studios-key"))) == 1


def test_an_environment_nobody_holds_is_refused_like_a_wrong_key(harbor):
    unknown = refused(body(OrganizationId=OTHER_ORG_ID), headers())
    wrong = refused(body(), headers(secret="not-the-key"))
    assert (unknown.status, unknown.message) == (wrong.status, wrong.message)


def test_a_disconnected_environment_is_refused():
    connected("gone", ORG_ID, state="not_connected")
    assert refused(body(), headers()).status == 401


def test_a_connection_without_a_secret_refuses_everything():
    connected("unset", ORG_ID, secret="")
    assert refused(body(), headers(secret="")).status == 401
    assert refused(body(), headers(secret=None)).status == 401


def test_a_body_that_is_no_context_is_refused_401_and_not_kept(harbor):
    """Without a readable OrganizationId there is no key to check it with: unverified, so 401 (not 400, which would
    store what an unknown caller sent)."""
    for data in (b"{not json", b"[]", json.dumps({"MessageName": "Create"}).encode(), "caf\xe9".encode("latin-1")):
        assert refused(data, headers()).status == 401


def test_a_verified_context_naming_no_record_is_unreadable_400(harbor):
    for fields in ({"PrimaryEntityId": None}, {"MessageName": ""}, {"PrimaryEntityName": None}):
        assert refused(body(**fields), headers()).status == 400


def test_messages_and_tables_map_to_canonical_objects_and_operations(harbor):
    cases = {
        ("Create", "lead"): ("lead", ChangeOperation.CREATED),
        ("Update", "lead"): ("lead", ChangeOperation.UPDATED),
        ("Delete", "lead"): ("lead", ChangeOperation.DELETED),
        ("Create", "contact"): ("contact", ChangeOperation.CREATED),
        ("Update", "account"): ("account", ChangeOperation.UPDATED),
        ("Delete", "opportunity"): ("deal", ChangeOperation.DELETED),
        ("Create", "task"): ("task", ChangeOperation.CREATED),
        ("Assign", "lead"): ("lead", ChangeOperation.UPDATED),
        ("SetState", "lead"): ("lead", ChangeOperation.UPDATED),
        ("Create", "lh_sms"): ("lh_sms", ChangeOperation.CREATED),  # a custom table keeps its logical name
    }
    for (message, table), expected in cases.items():
        [found] = parse(body(MessageName=message, PrimaryEntityName=table), headers())
        assert (found.object, found.operation) == expected, (message, table)


def test_our_application_users_writes_are_ours(harbor):
    assert parse(body(UserId=APP_USER, InitiatingUserId=APP_USER), headers())[0].ours is True
    # A step that runs as another user still says who called: us.
    assert parse(body(UserId=PERSON, InitiatingUserId=APP_USER), headers())[0].ours is True
    assert parse(body(UserId=APP_USER.upper(), InitiatingUserId=PERSON), headers())[0].ours is True
    assert parse(body(), headers())[0].ours is False
    another_app = "99999999-8888-4777-8666-555555555555"
    assert parse(body(UserId=another_app, InitiatingUserId=another_app), headers())[0].ours is False


def test_no_application_user_recorded_makes_nothing_ours(harbor):
    DynamicsConnection.unscoped_objects.filter(pk=harbor.pk).update(application_user_id="")
    assert parse(body(UserId="", InitiatingUserId=""), headers())[0].ours is False


def test_the_event_id_falls_back_to_the_request_then_the_correlation_and_record(harbor):
    request_id = "c0ffee00-1111-4222-8333-444455556666"
    assert parse(body(OperationId=None, RequestId=request_id), headers())[0].event_id == request_id
    fallback = parse(body(OperationId="", RequestId=None), headers())[0].event_id
    assert fallback == f"b374239d-4233-41a9-8b17-a86cb4f737b5:create:{LEAD_ID}"
    # The same operation delivered again has the same id; another lead in the same correlation has another.
    assert parse(body(OperationId="", RequestId=None), headers())[0].event_id == fallback
    other = parse(body(OperationId="", RequestId=None, record_id=OTHER_ORG_ID), headers())[0].event_id
    assert other != fallback


def test_a_context_over_256kb_without_its_parameters_still_reads(harbor):
    """Dataverse drops InputParameters, images and ParentContext from a large context (x-ms-dynamics-msg-size-
    exceeded); the record is still named by PrimaryEntityId."""
    data = context()
    for name in ("InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext"):
        del data[name]
    [found] = parse(json.dumps(data).encode(), headers(**{"x-ms-dynamics-msg-size-exceeded": "true"}))
    assert found.record_id == LEAD_ID


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1506409448000-0700)/", datetime(2017, 9, 26, 7, 4, 8, tzinfo=UTC)),
        ("/Date(1506409448000+0200)/", datetime(2017, 9, 26, 7, 4, 8, tzinfo=UTC)),
        ("/Date(1506409448000)/", datetime(2017, 9, 26, 7, 4, 8, tzinfo=UTC)),
        ("\\/Date(0)\\/", None),  # JSON's escaped slashes are gone once parsed; raw text is not a date
        ("2017-09-26T07:04:08Z", None),
        (None, None),
    ],
)
def test_operation_created_on_is_read_as_utc(text, expected):
    assert wcf_datetime(text) == expected


# --- through the product's URL (automation/webhooks.py's generic route) ------------------------------------------
EVENTS_PATH = "/webhooks/crm/dynamics/events/"


@pytest.fixture
def route(settings, monkeypatch):
    """The URL as Dataverse calls it; intakes are not started (tests/automation/test_dynamics_new_lead.py does)."""
    from automation.services import intake as intake_service

    settings.PUBLIC_BASE_URL = "https://leadline.test"
    monkeypatch.setattr(intake_service, "lead_intake_enqueue", lambda *args, **kwargs: None)


def with_automation(connection: DynamicsConnection, enabled: bool = True) -> DynamicsConnection:
    from automation.models import AutomationSettings

    AutomationSettings.unscoped_objects.create(organization=connection.organization, is_enabled=enabled)
    return connection


def post(client, data: bytes, sent: dict[str, str]):
    return client.post(EVENTS_PATH, data=data, content_type="application/json", headers=sent)


def recorded(source: str = "dynamics.lead"):
    from core.models import InboundEvent

    return list(InboundEvent.objects.filter(source=source).order_by("id"))


def test_a_new_lead_is_recorded_once_for_the_organization_holding_the_environment(client, route, harbor):
    with_automation(harbor)
    with_automation(connected("other", OTHER_ORG_ID, secret="the-other-studios-key"))
    answer = post(client, body(), headers())
    assert (answer.status_code, answer.json()) == (200, {"status": "received", "recorded": 1})
    [row] = recorded()
    assert row.organization == harbor.organization
    assert row.idempotency_key == f"dynamics:event:{ORG_ID}:4af10637-4ea2-e711-8122-000d3aa2331c"
    assert (row.payload["lead_id"], row.payload["connection_id"]) == (LEAD_ID, harbor.account_id)
    # Dataverse retries an asynchronous step whose answer it did not get: the same operation, nothing new.
    assert post(client, body(), headers()).json() == {"status": "received", "recorded": 0}
    assert len(recorded()) == 1


def test_a_refused_delivery_records_nothing_and_says_nothing_more(client, route, harbor):
    with_automation(harbor)
    for data, sent in (
        (body(), headers(secret="not-the-key")),
        (body(), headers(secret=None)),
        (body(OrganizationId=OTHER_ORG_ID), headers()),
        (b"{not json", headers()),
    ):
        answer = post(client, data, sent)
        assert answer.status_code == 401
        assert SECRET not in answer.content.decode()
    from core.models import InboundEvent

    assert InboundEvent.objects.count() == 0


def test_our_own_creates_changes_and_other_tables_start_nothing(client, route, harbor):
    with_automation(harbor)
    deliveries = [
        body(OperationId=str(uuid.uuid4()), UserId=APP_USER, InitiatingUserId=APP_USER),  # a lead we created
        body(OperationId=str(uuid.uuid4()), MessageName="Update"),
        body(OperationId=str(uuid.uuid4()), PrimaryEntityName="contact"),
        body(OperationId=str(uuid.uuid4()), MessageName="Delete"),
    ]
    for data in deliveries:
        assert post(client, data, headers()).json() == {"status": "received", "recorded": 0}
    assert recorded() == []


def test_an_organization_without_lead_automation_gets_no_intakes(client, route, harbor):
    with_automation(harbor, enabled=False)
    assert post(client, body(), headers()).json() == {"status": "received", "recorded": 0}
    assert recorded() == []


def test_a_verified_context_naming_no_record_is_kept_for_a_person(client, route, harbor):
    from core.models import InboundEvent

    with_automation(harbor)
    assert post(client, body(PrimaryEntityId=None), headers()).status_code == 200
    [row] = recorded("dynamics.app_events")
    assert (row.status, row.organization) == (InboundEvent.Status.FLAGGED, None)


def test_the_recorded_event_becomes_an_intake_on_the_connection_it_names(client, route, harbor):
    from automation.models import LeadIntake
    from automation.services.intake import lead_event_process

    with_automation(harbor)
    post(client, body(), headers())
    [row] = recorded()
    lead_event_process(row)
    intake = LeadIntake.objects.unscoped().get()
    assert (intake.organization, intake.connection_id, intake.crm_record_id) == (
        harbor.organization,
        harbor.account_id,
        LEAD_ID,
    )


# --- any context: never anything but an event or a refusal -------------------------------------------------------
CONTEXT_FIELDS = (
    "MessageName",
    "PrimaryEntityName",
    "PrimaryEntityId",
    "OrganizationId",
    "UserId",
    "InitiatingUserId",
    "OperationId",
    "RequestId",
    "CorrelationId",
    "OperationCreatedOn",
    "InputParameters",
)


def _json_values():
    from hypothesis import strategies as st

    from tests.fuzz.support import TEXT

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT
    dates = st.integers().map(lambda ms: f"/Date({ms})/")
    return st.recursive(
        scalars | dates,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8,
    )


def test_any_context_with_the_right_key_is_one_event_or_a_refusal(harbor, client, route):
    from hypothesis import given
    from hypothesis import strategies as st

    from tests.fuzz.support import FUZZ

    with_automation(harbor)

    @FUZZ
    @given(
        changes=st.dictionaries(st.sampled_from(CONTEXT_FIELDS), _json_values(), max_size=4),
        keep_org=st.booleans(),
    )
    def check(changes, keep_org):
        data = context()
        data.update(changes)
        if keep_org:
            data["OrganizationId"] = ORG_ID
        encoded = json.dumps(data).encode()
        try:
            events = parse(encoded, headers())
        except CrmNotificationInvalid as refusal:
            status = refusal.status
        else:
            status = 200
            assert len(events) == 1
            assert events[0].org_id == ORG_ID
        assert status in (200, 400, 401)
        assert post(client, encoded, headers()).status_code in (200, 401)

    check()
