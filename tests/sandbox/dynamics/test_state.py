"""The Dynamics emulator's state as other modules use it: environments, writes with versions, tombstones and
Change announcements, backdating, transactions, and the demo world's data."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sandbox import worlds
from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID
from sandbox.dynamics.state import RowNotFound
from sandbox.state import SandboxState


@pytest.fixture
def dynamics():
    return SandboxState(world="empty").dynamics


def test_writes_version_rows_and_announce_changes(dynamics):
    environment = dynamics.create_environment("contoso", organization_name="Contoso")
    heard = []
    dynamics.listeners.append(heard.append)
    user = next(row for row in environment.rows("systemuser") if not row["applicationid"])

    row = environment.create("lead", {"firstname": "Ann", "lastname": "Lee"}, by=user["systemuserid"])
    assert row["fullname"] == "Ann Lee"
    assert row["ownerid"] == user["systemuserid"]
    assert row["ownerid@table"] == "systemuser"
    assert row["versionnumber"] == environment.version
    assert row["modifiedon"].microsecond == 0

    updated = environment.update("lead", row["leadid"], {"lastname": "Long"}, by=user["systemuserid"])
    assert updated["fullname"] == "Ann Long"
    assert updated["versionnumber"] > row["versionnumber"]

    environment.delete("lead", row["leadid"], by=user["systemuserid"])
    assert environment.tombstones[-1].id == row["leadid"]
    assert environment.tombstones[-1].version == environment.version
    assert [change.operation for change in heard] == ["Create", "Update", "Delete"]
    assert heard[0].changed == ("firstname", "lastname")
    with pytest.raises(RowNotFound, match=r"lead With Id = .* Does Not Exist"):
        environment.update("lead", row["leadid"], {}, by="")


def test_backdate_gives_a_new_version_and_announces_nothing(dynamics):
    environment = dynamics.create_environment("contoso", organization_name="Contoso")
    row = environment.create("contact", {"lastname": "Old"}, by="")
    heard = []
    dynamics.listeners.append(heard.append)
    past = datetime(2020, 1, 1, tzinfo=UTC)
    assert environment.backdate("contact", [row["contactid"]], past) == 1
    stored = environment.row("contact", row["contactid"])
    assert stored["modifiedon"] == past
    assert stored["versionnumber"] > row["versionnumber"]
    assert heard == []


def test_a_transaction_undoes_everything_on_failure(dynamics):
    environment = dynamics.create_environment("contoso", organization_name="Contoso")
    kept = environment.create("lead", {"lastname": "Kept"}, by="")
    heard = []
    dynamics.listeners.append(heard.append)

    def failing_batch() -> None:
        with environment.transaction():
            environment.create("lead", {"lastname": "New"}, by="")
            environment.update("lead", kept["leadid"], {"lastname": "Changed"}, by="")
            environment.delete("lead", kept["leadid"], by="")
            raise RuntimeError("a later operation failed")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert [row["lastname"] for row in environment.rows("lead")] == ["Kept"]
    assert environment.tombstones == []
    assert heard == []

    with environment.transaction():
        environment.create("lead", {"lastname": "Committed"}, by="")
    assert [change.operation for change in heard] == ["Create"]


def test_environments_tenants_and_consent(dynamics):
    environment = dynamics.create_environment("contoso", organization_name="Contoso", users=2)
    tenant = dynamics.tenant(environment.tenant_id)
    assert dynamics.consented(tenant.tenant_id, DEMO_DV_CLIENT_ID)
    assert (
        environment.application_user(DEMO_DV_CLIENT_ID)["azureactivedirectoryobjectid"]
        == (tenant.service_principals[DEMO_DV_CLIENT_ID])
    )
    people = [row for row in environment.rows("systemuser") if not row["applicationid"]]
    assert len(people) == 2
    assert {row["azureactivedirectoryobjectid"] for row in people} <= set(tenant.users)
    assert len(tenant.admins()) == 1
    assert environment.url.endswith("/dynamics/contoso")
    assert dynamics.environment_of_url("https://anything/dynamics/contoso/") is environment

    bare = dynamics.create_environment("fabrikam", organization_name="Fabrikam", consent=False)
    assert not dynamics.consented(bare.tenant_id, DEMO_DV_CLIENT_ID)
    assert bare.application_user(DEMO_DV_CLIENT_ID) is None
    with pytest.raises(ValueError, match="exists"):
        dynamics.create_environment("contoso")


def test_the_demo_world():
    dynamics = SandboxState(world="demo").dynamics
    environment = dynamics.environment(worlds.DEMO_DV_ENVIRONMENT)
    assert environment.tenant_id == worlds.DEMO_DV_TENANT_ID
    assert environment.organization_id == worlds.DEMO_DV_ORGANIZATION_ID
    assert environment.application_user(DEMO_DV_CLIENT_ID)["systemuserid"] == worlds.DEMO_DV_APPLICATION_USER_ID
    counts = {name: len(environment.rows(name)) for name in ("lead", "contact", "account", "opportunity")}
    assert counts == {"lead": 200, "contact": 40, "account": 20, "opportunity": 15}
    for person in worlds.DEMO_DV_USERS:
        row = environment.user(person["systemuserid"])
        assert row["fullname"] == person["fullname"]
        assert row["azureactivedirectoryobjectid"] == person["azureactivedirectoryobjectid"]
    owners = {row["ownerid"] for row in environment.rows("lead")}
    assert owners == {person["systemuserid"] for person in worlds.DEMO_DV_USERS}
    phones = [row["mobilephone"] or row["telephone1"] for row in environment.rows("lead")]
    shapes = {re.sub(r"\d", "9", phone) for phone in phones if phone}
    assert len(shapes) >= 3  # people typed numbers in several styles
    assert any(row["lh_smsoptout"] for row in environment.rows("lead"))
    assert all(
        row["parentcustomerid"] is None or row["parentcustomerid@table"] == "account"
        for row in environment.rows("contact")
    )
    again = SandboxState(world="demo").dynamics.environment(worlds.DEMO_DV_ENVIRONMENT)
    assert [row["leadid"] for row in again.rows("lead")] == [row["leadid"] for row in environment.rows("lead")]


def test_alternate_key_lookups_follow_writes_and_undos(dynamics):
    environment = dynamics.create_environment("contoso", organization_name="Contoso")
    table = environment.table("lh_sms")
    row = environment.create("lh_sms", {"subject": "Hi", "lh_leadlinemessageid": "M-1"}, by="")
    assert table.find_by_key({"lh_leadlinemessageid": "m-1"})["activityid"] == row["activityid"]
    environment.update("lh_sms", row["activityid"], {"lh_leadlinemessageid": "m-2"}, by="")
    assert table.find_by_key({"lh_leadlinemessageid": "m-1"}) is None
    assert table.find_by_key({"lh_leadlinemessageid": "m-2"}) is not None

    def failing() -> None:
        with environment.transaction():
            environment.delete("lh_sms", row["activityid"], by="")
            environment.create("lh_sms", {"subject": "New", "lh_leadlinemessageid": "m-3"}, by="")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing()
    assert table.find_by_key({"lh_leadlinemessageid": "m-2"})["activityid"] == row["activityid"]
    assert table.find_by_key({"lh_leadlinemessageid": "m-3"}) is None
    environment.delete("lh_sms", row["activityid"], by="")
    assert table.find_by_key({"lh_leadlinemessageid": "m-2"}) is None


def test_the_demo_environment_posts_new_leads_to_the_product():
    sandbox = SandboxState(world="demo", product_base_url="http://127.0.0.1:8999")
    environment = sandbox.dynamics.environment(worlds.DEMO_DV_ENVIRONMENT)
    (step,) = environment.extra["webhooks"]
    assert step["url"] == f"http://127.0.0.1:8999{worlds.DEMO_DV_EVENTS_PATH}"
    assert step["header_name"] == "x-leadline-webhook-key"
    assert step["header_value"] == worlds.DEMO_DV_WEBHOOK_KEY
    assert (step["table"], step["message"]) == ("lead", "Create")
