"""Reads sent as POST (COQL) are retried like GETs: one Zoho 5xx or timeout no longer fails a sync run."""

from __future__ import annotations

import pytest

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import ZohoUnavailable
from sync.delta import sync_run
from sync.models import SyncRun
from tests.crm.zoho.conftest import control, crm_account
from tests.sync.conftest import seed


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.ZOHO_RETRY_BASE_SECONDS = 0.01


@pytest.fixture
def account(organization, empty_sandbox):
    return crm_account(organization, empty_sandbox, is_default=True)


def test_one_coql_500_is_retried_and_the_run_succeeds(organization, account, empty_sandbox):
    seed(empty_sandbox, 30)
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 500, "times": 1})
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert run.inserted == 30


def test_one_coql_timeout_is_retried_and_the_run_succeeds(organization, account, empty_sandbox, settings):
    seed(empty_sandbox, 30)
    settings.ZOHO_HTTP_READ_TIMEOUT_SECONDS = 0.5
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "delay": 2, "times": 1})
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert run.inserted == 30


def test_a_coql_that_keeps_failing_still_fails_after_the_retries(organization, account, empty_sandbox, settings):
    settings.ZOHO_RETRY_ATTEMPTS = 2
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 503, "times": 10})
    with pytest.raises(ZohoUnavailable):
        ZohoClient(account=account).coql(query="select Last_Name from Leads where id is not null limit 1")


def test_an_insert_is_still_not_repeated_after_a_500(organization, account, empty_sandbox):
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/Leads$", "status": 500, "times": 1})
    with pytest.raises(ZohoUnavailable):
        ZohoClient(account=account).records_insert(module="Leads", records=[{"Last_Name": "Once"}])
    assert not [r for r in _leads(empty_sandbox) if r.get("Last_Name") == "Once"]


def _leads(server):
    org = next(iter(server.state.crm.orgs.values()))
    return list(org.modules["Leads"].records.values())


def test_an_api_domain_the_guard_refuses_is_an_auth_error_not_an_outage(organization, account, settings):
    """A refused endpoint (here: the sandbox on loopback once private hosts are off) sent nothing: no retry, no
    credits spent, and the connection is flagged for a person, like any other authorization problem."""
    from crm.providers.zoho import limits
    from crm.providers.zoho.errors import ZohoAuthError

    client = ZohoClient(account=account)
    client.coql(query="select Last_Name from Leads where id is not null limit 1")  # the access token is cached
    used = limits.credits_used(organization_id=organization.pk)
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    with pytest.raises(ZohoAuthError) as caught:
        client.coql(query="select Last_Name from Leads where id is not null limit 1")
    assert caught.value.code == "ENDPOINT_REFUSED"
    assert limits.credits_used(organization_id=organization.pk) == used
