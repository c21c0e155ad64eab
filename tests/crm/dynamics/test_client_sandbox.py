"""The Dataverse client against the emulator over real HTTP (Entra ID over HTTPS, msal unmodified): WhoAmI as the
application user, writes with their conditional headers, metadata, track-changes pages and delta links (an expired
one is CrmHistoryExpired), $batch, and service protection's 429 waited out without a request sent early."""

from __future__ import annotations

import threading

import pytest

from crm.errors import CrmHistoryExpired
from crm.providers.dynamics import errors
from crm.providers.dynamics.client import DataverseClient
from crm.providers.dynamics.errors import (
    DataverseAuthError,
    DataverseHistoryExpired,
    DataverseNotFound,
    DataversePreconditionFailed,
)
from crm.providers.dynamics.transport import BatchOperation
from tests.crm.dynamics.client_support import (  # noqa: F401 (fixtures)
    clean_state_fixture,
    dv_cert_dir_fixture,
    dv_environment_fixture,
    dv_sandbox_fixture,
    sandbox_account_fixture,
    sandbox_configure,
    sandbox_control,
)

pytestmark = pytest.mark.django_db

NEW_ID = "00000000-0000-4000-8000-00000000abcd"


@pytest.fixture
def client(sandbox_account):
    return DataverseClient(sandbox_account)


def test_whoami_is_the_application_user_with_a_token_from_msal(client, dv_environment):
    who = client.whoami()
    assert who["UserId"] == dv_environment.application_user("0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6")["systemuserid"]
    assert who["OrganizationId"] == dv_environment.organization_id


def test_a_tenant_without_consent_needs_it(dv_sandbox, sandbox_account):
    environment = dv_sandbox.state.dynamics.create_environment("fabrikam", consent=False)
    with pytest.raises(DataverseAuthError) as raised:
        DataverseClient(sandbox_account, tenant_id=environment.tenant_id, environment=environment.url).whoami()
    assert raised.value.code == "consent_required"


def test_rows_are_created_updated_upserted_and_deleted(client):
    lead_id = client.create("leads", {"lastname": "Reyes", "firstname": "Ana"})
    client.update("leads", lead_id, {"telephone1": "(415) 555-0142"})
    row = client.row("leads", lead_id, select=("fullname", "telephone1"))
    assert (row["fullname"], row["telephone1"]) == ("Ana Reyes", "(415) 555-0142")
    assert client.upsert("leads", NEW_ID, {"lastname": "Okafor"}, mode="create") == (NEW_ID, True)
    with pytest.raises(DataversePreconditionFailed):
        client.upsert("leads", NEW_ID, {"lastname": "Okafor"}, mode="create")
    assert client.upsert("leads", NEW_ID, {"firstname": "Chi"}, mode="update") == (NEW_ID, False)
    assert client.delete("leads", NEW_ID) is True
    assert client.delete("leads", NEW_ID) is False
    with pytest.raises(DataverseNotFound):
        client.update("leads", NEW_ID, {"firstname": "x"})


def test_metadata_as_the_client_reads_it(client):
    definition = client.entity_definition("lead")
    assert definition["EntitySetName"] == "leads"
    assert definition["PrimaryIdAttribute"] == "leadid"
    phones = {
        column["LogicalName"]
        for column in client.attributes("lead")
        if (column.get("FormatName") or {}).get("Value") == "Phone"
    }
    assert "telephone1" in phones
    options = client.picklist_options("lead")
    assert options["leadsourcecode"]
    assert all(option["label"] for option in options["leadsourcecode"])
    navigation = {row["ReferencingEntityNavigationPropertyName"] for row in client.many_to_one("task")}
    assert "regardingobjectid_lead_task" in navigation


def test_track_changes_pages_then_a_delta_link_then_expiry(client, dv_sandbox, dv_environment):
    for number in range(3):
        client.create("leads", {"lastname": f"Lead {number}"})
    pages = list(client.pages("leads", {"$select": "fullname"}, page_size=2, track_changes=True))
    assert sum(len(page["value"]) for page in pages) == 3
    delta = pages[-1]["@odata.deltaLink"]
    changed = client.create("leads", {"lastname": "Later"})
    body = client.get_url(delta, prefer="odata.track-changes")
    assert changed in {row.get("leadid") for row in body["value"]}
    sandbox_control(dv_sandbox, "POST", f"/environments/{dv_environment.name}/expire-change-tokens")
    with pytest.raises(DataverseHistoryExpired) as raised:
        client.get_url(body["@odata.deltaLink"], prefer="odata.track-changes")
    assert isinstance(errors.translate(raised.value), CrmHistoryExpired)


def test_batch_creates_once_and_a_retry_finds_them_there(client):
    operations = [
        BatchOperation("PATCH", f"tasks({NEW_ID})", {"subject": "Welcome text sent"}, {"If-None-Match": "*"}),
    ]
    [first] = client.batch(operations)
    assert first.ok
    [again] = client.batch(operations)
    assert again.status == 412
    assert isinstance(again.error, DataversePreconditionFailed)


def test_a_429_is_waited_out_and_nothing_is_sent_before_it_ends(client, dv_sandbox, dv_environment):
    sandbox_configure(dv_sandbox, dv_requests_per_window=2, dv_window_seconds=2, dv_retry_after_seconds=1)
    for _ in range(4):
        client.whoami()
    counters = sandbox_control(dv_sandbox, "GET", f"/environments/{dv_environment.name}/limits")
    [mine] = counters.values()
    assert mine["refused_requests"] >= 1
    assert mine["sent_while_blocked"] == 0


def test_parallel_workers_stay_under_the_environments_concurrency(
    sandbox_account, dv_sandbox, dv_environment, settings
):
    settings.DYNAMICS_CONCURRENCY = 2
    sandbox_configure(dv_sandbox, dv_concurrent_requests=2, dv_retry_after_seconds=1)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                DataverseClient(sandbox_account).whoami()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    [mine] = sandbox_control(dv_sandbox, "GET", f"/environments/{dv_environment.name}/limits").values()
    assert mine["max_in_flight"] <= 2
    assert mine["refused_requests"] == 0


def test_an_upsert_by_alternate_key_says_whether_it_created(client):
    key = {"lh_leadlinemessageid": "msg-1"}
    row_id, created = client.upsert("lh_smses", key, {"subject": "Hi Ana"})
    assert created is True
    assert row_id
    assert client.upsert("lh_smses", key, {"subject": "Hi Ana!"}) == (row_id, False)
