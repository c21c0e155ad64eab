"""Webhooks of the Dataverse emulator: a registered step POSTs a lead Create's RemoteExecutionContext with the
registration's auth header and Dataverse's own headers, for people's writes and the application user's alike,
retried when the endpoint fails, every attempt recorded."""

from __future__ import annotations

import pytest

from tests.sandbox.dynamics.dv_support import ok
from tests.sandbox.dynamics.emq_support import Receiver, configure, control

HEADER = "x-leadline-webhook-key"
SECRET = "webhook-secret-for-tests"


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def register(dv_server, env, receiver, **more):
    body = {"url": receiver.url, "header_name": HEADER, "header_value": SECRET, "table": "lead", "message": "Create"}
    return ok(control(dv_server, "POST", f"/environments/{env.environment.name}/webhooks", json={**body, **more}), 201)


def test_a_persons_new_lead_posts_its_execution_context(env, dv_server, receiver):
    step = register(dv_server, env, receiver)
    assert step["header_value"] == "***"
    person = env.users[1]
    created = ok(
        control(
            dv_server,
            "POST",
            f"/environments/{env.environment.name}/tables/lead/rows",
            json={
                "values": {"firstname": "Ann", "lastname": "Lee", "subject": "Trial class", "leadsourcecode": 1},
                "as_user": person["systemuserid"],
            },
        ),
        201,
    )
    ((headers, body),) = receiver.wait_for(1)
    assert dv_server.state.sender.drain()
    environment = env.environment
    assert headers[HEADER] == SECRET
    assert headers["content-type"].startswith("application/json")
    assert headers["x-ms-dynamics-entity-name"] == "lead"
    assert headers["x-ms-dynamics-request-name"] == "Create"
    assert headers["x-ms-dynamics-organization"] == environment.url.split("//", 1)[1].split("/", 1)[0]
    assert headers["x-ms-correlation-request-id"] == body["CorrelationId"]
    assert headers["x-request-id"]

    assert body["MessageName"] == "Create"
    assert body["PrimaryEntityName"] == "lead"
    assert body["PrimaryEntityId"] == created["leadid"]
    assert body["OrganizationId"] == environment.organization_id
    assert body["BusinessUnitId"] == environment.business_unit_id
    assert body["UserId"] == body["InitiatingUserId"] == person["systemuserid"]
    assert body["InitiatingUserAzureActiveDirectoryObjectId"] == person["azureactivedirectoryobjectid"]
    assert (body["Stage"], body["Mode"], body["Depth"]) == (40, 1, 1)
    assert body["OperationCreatedOn"].startswith("/Date(")
    assert body["OutputParameters"] == [{"key": "id", "value": created["leadid"]}]
    (target,) = body["InputParameters"]
    assert target["key"] == "Target"
    entity = target["value"]
    assert entity["__type"] == "Entity:http://schemas.microsoft.com/xrm/2011/Contracts"
    assert (entity["LogicalName"], entity["Id"]) == ("lead", created["leadid"])
    attributes = {item["key"]: item["value"] for item in entity["Attributes"]}
    assert attributes["lastname"] == "Lee"
    assert attributes["leadsourcecode"] == {
        "__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Value": 1,
    }
    assert attributes["ownerid"]["Id"] == person["systemuserid"]
    assert attributes["ownerid"]["LogicalName"] == "systemuser"
    assert attributes["createdon"].startswith("/Date(")
    formatted = {item["key"]: item["value"] for item in entity["FormattedValues"]}
    assert formatted["leadsourcecode"]

    (delivery,) = ok(control(dv_server, "GET", f"/environments/{env.environment.name}/webhooks/deliveries"))
    assert (delivery["status"], delivery["attempt"], delivery["ok"]) == (200, 1, True)
    assert HEADER not in delivery["headers"]


def test_the_application_users_own_create_fires_too_with_its_user_id(env, dv_server, receiver):
    register(dv_server, env, receiver)
    row_id = env.create("leads", {"lastname": "Made by Leadline", "subject": "From a text"})
    ((_, body),) = receiver.wait_for(1)
    assert body["PrimaryEntityId"] == row_id
    assert body["UserId"] == env.application_user_id


def test_other_tables_and_messages_do_not_fire_a_lead_create_step(env, dv_server, receiver):
    register(dv_server, env, receiver)
    environment = env.environment
    person = env.users[0]["systemuserid"]
    environment.create("contact", {"lastname": "Contact"}, by=person)
    lead = environment.create("lead", {"lastname": "Lead", "subject": "x"}, by=person)
    environment.update("lead", lead["leadid"], {"firstname": "Changed"}, by=person)
    received = receiver.wait_for(2, timeout=1.0)
    assert [(body["PrimaryEntityName"], body["MessageName"]) for _, body in received] == [("lead", "Create")]


def test_a_gateway_error_is_tried_once_more_with_the_same_operation(env, dv_server):
    configure(dv_server, dv_webhook_retry_seconds=0.05)  # the default: one more attempt (Microsoft's rule)
    receiver = Receiver(fail_first=1, fail_status=503)
    try:
        register(dv_server, env, receiver)
        env.environment.create("lead", {"lastname": "Retried", "subject": "x"}, by=env.users[0]["systemuserid"])
        received = receiver.wait_for(2)
        assert len(received) == 2
        assert len({body["OperationId"] for _, body in received}) == 1
        assert dv_server.state.sender.drain()  # the last attempt is recorded once its answer is read
        deliveries = ok(control(dv_server, "GET", f"/environments/{env.environment.name}/webhooks/deliveries"))
        assert [(item["attempt"], item["status"]) for item in deliveries] == [(1, 503), (2, 200)]
    finally:
        receiver.close()


def test_any_other_failure_fails_the_step_with_no_retry(env, dv_server):
    configure(dv_server, dv_webhook_retry_seconds=0.05, dv_webhook_max_attempts=3)
    receiver = Receiver(fail_first=2, fail_status=500)
    try:
        register(dv_server, env, receiver)
        env.environment.create("lead", {"lastname": "Lost", "subject": "x"}, by=env.users[0]["systemuserid"])
        assert len(receiver.wait_for(2, timeout=1.0)) == 1
        assert dv_server.state.sender.drain()
        deliveries = ok(control(dv_server, "GET", f"/environments/{env.environment.name}/webhooks/deliveries"))
        assert [(item["attempt"], item["status"]) for item in deliveries] == [(1, 500)]
    finally:
        receiver.close()


def test_registration_is_checked_and_can_be_removed(env, dv_server, receiver):
    name = env.environment.name
    assert control(dv_server, "POST", f"/environments/{name}/webhooks", json={"url": "ftp://x"}).status_code == 400
    bad_table = {"url": receiver.url, "table": "nothing"}
    assert control(dv_server, "POST", f"/environments/{name}/webhooks", json=bad_table).status_code == 400
    step = register(dv_server, env, receiver)
    listed = ok(control(dv_server, "GET", f"/environments/{name}/webhooks"))
    assert [item["serviceendpointid"] for item in listed] == [step["serviceendpointid"]]
    removed = control(dv_server, "DELETE", f"/environments/{name}/webhooks/{step['serviceendpointid']}")
    assert removed.status_code == 204
    env.environment.create("lead", {"lastname": "Unheard", "subject": "x"}, by=env.users[0]["systemuserid"])
    assert receiver.wait_for(1, timeout=0.5) == []
