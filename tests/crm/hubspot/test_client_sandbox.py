"""The HubSpot client against the emulator over real HTTP: tokens from both token endpoints, every method on both
path families, expired and revoked tokens, 429s of each policy, faults (502, 423), per-item batch errors.

Time: the client's waits advance the sandbox's clock instead of sleeping (`SandboxSleep`), so a 10-second window
frees at once and the tests stay fast while the emulator sees the time pass."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from django.core.cache import cache

from crm.errors import CrmQuotaExhausted
from crm.providers.hubspot.client import HubSpotClient
from crm.providers.hubspot.errors import HubSpotAuthError, HubSpotDailyLimit, HubSpotNotFound, translate
from crm.records import Priority
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=60)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


class SandboxSleep:
    """Stands in for time.sleep: records each wait and moves the sandbox's clock by it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        control(self.server, "POST", "clock", {"advance_seconds": seconds})


@pytest.fixture
def portal(empty_sandbox) -> dict[str, Any]:
    cache.clear()
    found = control(empty_sandbox, "POST", "hubspot/portals", {"name": "Client Test Portal", "owner_count": 2})
    install = control(empty_sandbox, "POST", f"hubspot/portals/{found['portal_id']}/installs", {})
    yield {**found, **install}
    cache.clear()


@pytest.fixture
def account(empty_sandbox, portal) -> ProviderAccount:
    from crm.providers.hubspot.conf import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    return ProviderAccount.objects.create(
        organization=OrganizationFactory(slug="peak", name="Peak Performance Gyms"),
        name="peak-hubspot",
        kind="hubspot",
        is_default=True,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        refresh_token=portal["refresh_token"],
        accounts_url=empty_sandbox.url,
        api_domain=empty_sandbox.url,
        custom_endpoints=True,  # an operator pointed it at the sandbox
    )


@pytest.fixture
def sandbox_sleep(empty_sandbox) -> SandboxSleep:
    return SandboxSleep(empty_sandbox)


def seed(server: Any, portal: dict[str, Any], object_type: str, count: int, **options: Any) -> dict[str, Any]:
    body = {"object_type": object_type, "count": count, **options}
    return control(server, "POST", f"hubspot/portals/{portal['portal_id']}/seed", body)


@pytest.fixture(params=["2026-03", "v3"])
def api_version(request, settings) -> str:
    settings.HUBSPOT_API_VERSION = request.param
    return request.param


@pytest.mark.parametrize("token_path", ["/oauth/v1/token", "/oauth/2026-03/token"])
def test_reads_and_writes_on_both_families(
    empty_sandbox, portal, account, sandbox_sleep, settings, api_version, token_path
):
    settings.HUBSPOT_TOKEN_PATH = token_path
    seed(empty_sandbox, portal, "companies", 3)
    seed(empty_sandbox, portal, "contacts", 5, with_companies=True)
    client = HubSpotClient(account, sleep=sandbox_sleep)

    page = client.objects_page("contacts", limit=2, properties=("email", "phone"))
    assert len(page.results) == 2
    assert page.after
    assert "email" in page.results[0]["properties"]
    ids = [record["id"] for record in page.results]
    assert client.object_get("contacts", ids[0], properties=("email",))["id"] == ids[0]

    found = client.search(
        "contacts",
        {"filterGroups": [], "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 3},
    )
    assert found.total == 5
    assert len(found.results) == 3

    batch = client.batch_read("contacts", [*ids, "999999999"], properties=("email",))
    assert sorted(record["id"] for record in batch.results) == sorted(ids)
    assert "999999999" in batch.error_ids()

    created = client.object_create("contacts", {"email": "new.member@peak.test", "firstname": "New"})
    updated = client.object_update("contacts", created["id"], {"firstname": "", "lastname": "Member"})
    assert updated["properties"]["lastname"] == "Member"
    upsert = client.batch_upsert(
        "contacts",
        [
            {"id": "new.member@peak.test", "idProperty": "email", "properties": {"jobtitle": "Coach"}},
            {"id": "other@peak.test", "idProperty": "email", "properties": {"jobtitle": "Member"}},
        ],
    )
    assert sorted(result.get("new") for result in upsert.results) == [False, True]
    assert client.object_archive("contacts", created["id"]) is True
    archived = client.objects_page("contacts", archived=True)
    assert created["id"] in [record["id"] for record in archived.results]
    with pytest.raises(HubSpotNotFound):
        client.object_get("contacts", created["id"])

    names = {item["name"] for item in client.properties("contacts")}
    assert {"email", "lastmodifieddate", "leadline_sms_opt_out"} <= names
    assert client.association_labels("contacts", "companies")
    # Every live contact (about half of the seeded ones have a company, at random: the first page alone may have
    # none), each with exactly the company its associatedcompanyid names.
    every = [record["id"] for record in client.objects_page("contacts", limit=10).results]
    companies = {
        record["id"]: record["properties"].get("associatedcompanyid")
        for record in client.batch_read("contacts", every, properties=("associatedcompanyid",)).results
    }
    linked = client.associations_read("contacts", "companies", every)
    assert set(linked) == set(every)
    assert {contact: [str(c) for c in found] for contact, found in linked.items()} == {
        contact: [company] if company else [] for contact, company in companies.items()
    }
    assert any(linked.values())

    owners = client.owners()
    assert len(owners) == 2
    owner = client.owner_by_user_id(portal["user_id"])
    assert owner is not None
    assert str(owner["userId"]) == str(portal["user_id"])
    assert client.owner_by_user_id(1) is None
    info = client.token_info()
    assert str(info["hub_id"]) == str(portal["portal_id"])
    assert client.calls >= 15


def test_a_long_property_list_is_read_through_a_post_body(empty_sandbox, portal, account, sandbox_sleep):
    seed(empty_sandbox, portal, "contacts", 3)
    client = HubSpotClient(account, sleep=sandbox_sleep)
    names = ("email", *(f"no_such_property_with_a_long_name_{n:04d}" for n in range(300)))
    page = client.objects_page("contacts", properties=names)
    assert len(page.results) == 3
    assert all("email" in record["properties"] for record in page.results)


def test_expired_tokens_are_refreshed_once(empty_sandbox, portal, account, sandbox_sleep):
    client = HubSpotClient(account, sleep=sandbox_sleep)
    client.owners()
    control(empty_sandbox, "POST", "hubspot/tokens/expire")
    assert client.owners()
    assert sandbox_sleep.waits == []


def test_a_revoked_install_needs_a_person(empty_sandbox, portal, account, sandbox_sleep):
    from crm.providers.hubspot.models import HubSpotConnection

    control(empty_sandbox, "POST", "hubspot/tokens/revoke", {"refresh_token": portal["refresh_token"]})
    with pytest.raises(HubSpotAuthError):
        HubSpotClient(account, sleep=sandbox_sleep).owners()
    assert HubSpotConnection.unscoped_objects.get(account=account).state == "needs_reauth"


def test_the_ten_second_window_is_waited_out(empty_sandbox, portal, account, sandbox_sleep):
    control(empty_sandbox, "PATCH", f"hubspot/portals/{portal['portal_id']}", {"requests_per_10s": 3})
    client = HubSpotClient(account, priority=Priority.INTERACTIVE, sleep=sandbox_sleep)
    for _ in range(7):
        client.properties("contacts")
    assert sandbox_sleep.waits  # the window was full at least once
    assert all(wait <= 10.0 for wait in sandbox_sleep.waits)


def test_background_work_leaves_the_reserve(empty_sandbox, portal, account, sandbox_sleep):
    control(empty_sandbox, "PATCH", f"hubspot/portals/{portal['portal_id']}", {"requests_per_10s": 10})
    client = HubSpotClient(account, sleep=sandbox_sleep)
    for _ in range(12):
        client.properties("contacts")
    counters = control(empty_sandbox, "GET", "counters")
    assert not any(name.startswith("hubspot.rate_limited") for name in counters)  # it yielded before HubSpot said no
    assert sandbox_sleep.waits


def test_the_daily_limit_is_quota_exhausted(empty_sandbox, portal, account, sandbox_sleep):
    control(empty_sandbox, "PATCH", f"hubspot/portals/{portal['portal_id']}", {"requests_per_day": 2})
    client = HubSpotClient(account, sleep=sandbox_sleep)
    client.owners()
    client.owners()
    with pytest.raises(HubSpotDailyLimit) as caught:
        client.owners()
    assert isinstance(translate(caught.value), CrmQuotaExhausted)
    calls = client.calls
    with pytest.raises(HubSpotDailyLimit):
        client.owners()  # background: refused here, HubSpot is not asked again
    assert client.calls == calls


def test_searches_beyond_the_portals_second_wait_a_second(empty_sandbox, portal, account, sandbox_sleep, settings):
    settings.HUBSPOT_SEARCH_PER_SECOND = 100  # our own limiter out of the way: HubSpot's 5/s answers
    seed(empty_sandbox, portal, "contacts", 2)
    control(empty_sandbox, "POST", "clock", {"freeze_at": "2026-12-07T12:00:00+00:00"})
    client = HubSpotClient(account, sleep=sandbox_sleep)
    for _ in range(8):
        assert client.search("contacts", {"limit": 1}).total == 2
    assert 1.0 in sandbox_sleep.waits


@pytest.mark.parametrize(("status", "expected_wait"), [(502, None), (423, 2.0)])
def test_faults_are_retried(empty_sandbox, portal, account, sandbox_sleep, status, expected_wait):
    client = HubSpotClient(account, sleep=sandbox_sleep)
    client.owners()  # the token first: the fault hits the API call
    control(empty_sandbox, "POST", "faults", {"path": "/hubspot/crm/.*owners", "status": status, "times": 2})
    assert len(client.owners()) == 2
    assert len(sandbox_sleep.waits) == 2
    if expected_wait:
        assert sandbox_sleep.waits == [expected_wait, expected_wait]


def test_paging_past_the_search_cap_is_its_own_error(empty_sandbox, portal, account, sandbox_sleep):
    from crm.errors import CrmRejected
    from crm.providers.hubspot.errors import HubSpotSearchCapReached

    seed(empty_sandbox, portal, "contacts", 30)
    control(empty_sandbox, "PATCH", "config", {"hs_search_max_results": 20})
    client = HubSpotClient(account, sleep=sandbox_sleep)
    first = client.search("contacts", {"limit": 20})
    assert first.total == 30
    with pytest.raises(HubSpotSearchCapReached) as caught:
        client.search("contacts", {"limit": 20, "after": first.after})
    assert isinstance(translate(caught.value), CrmRejected)
