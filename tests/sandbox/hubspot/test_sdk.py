"""HubSpot's own Python client (hubspot-api-client, unmodified; installed for tests only) against the emulator: a
contacts page, a search and a batch upsert by email, on the path family the client calls (`/crm/v3/...`).

The client's host is its configuration's `host` (HubSpot(host=...) sets it on every API's Configuration): the
emulator serves HubSpot's API under `/hubspot/` on the sandbox host."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.contacts.exceptions import ApiException

from sandbox.server import SandboxServer

TIMEOUT = 30


@pytest.fixture(scope="module")
def sdk():
    """(the vendor's client with an app's token for a fresh portal of 120 contacts, the sandbox URL, portal id)."""
    with SandboxServer(world="empty") as server:
        control = f"{server.url}/_sandbox/hubspot"
        portal = requests.post(f"{control}/portals", json={"name": "SDK Gym"}, timeout=TIMEOUT).json()
        app = requests.post(f"{control}/apps", json={}, timeout=TIMEOUT).json()
        install = requests.post(
            f"{control}/portals/{portal['portal_id']}/installs", json={"app_id": app["app_id"]}, timeout=TIMEOUT
        ).json()
        seeded = requests.post(
            f"{control}/portals/{portal['portal_id']}/seed", json={"object_type": "contacts", "count": 120}, timeout=30
        )
        assert seeded.status_code == 200, seeded.text
        # several searches a second from one test run: search's own per-second limit is tested elsewhere
        requests.patch(f"{server.url}/_sandbox/config", json={"hs_search_requests_per_second": 100}, timeout=TIMEOUT)
        yield HubSpot(access_token=install["access_token"], host=f"{server.url}/hubspot"), server


def test_a_contacts_page_and_the_next_by_its_after_cursor(sdk) -> None:
    client, server = sdk
    first = client.crm.contacts.basic_api.get_page(limit=50, properties=["email", "phone"])
    assert len(first.results) == 50
    assert first.paging.next.after
    assert set(first.results[0].properties) >= {"email", "phone"}
    second = client.crm.contacts.basic_api.get_page(limit=50, after=first.paging.next.after, properties=["email"])
    assert not {r.id for r in first.results} & {r.id for r in second.results}
    everyone = client.crm.contacts.get_all(properties=["email"])
    assert len(everyone) == len({record.id for record in everyone}) >= 120
    assert any(name.startswith("hubspot.objects.") for name in server.state.counters)


def test_a_search_with_a_token_filter_and_a_sort(sdk) -> None:
    client, _ = sdk
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="email", operator="CONTAINS_TOKEN", value="*@gmail.com")])
        ],
        sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
        properties=["email", "lifecyclestage"],
        limit=20,
    )
    found = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert 0 < len(found.results) <= 20
    assert found.total >= len(found.results)
    assert all(record.properties["email"].endswith("@gmail.com") for record in found.results)
    assert [int(r.id) for r in found.results] == sorted((int(r.id) for r in found.results), reverse=True)
    if found.total > 20:
        assert found.paging.next.after == "20"
    too_big = PublicObjectSearchRequest(limit=200, after="10000")
    with pytest.raises(ApiException) as refused:
        client.crm.contacts.search_api.do_search(public_object_search_request=too_big)
    assert refused.value.status == 400


def test_a_batch_upsert_by_email_creates_and_updates(sdk) -> None:
    client, _ = sdk
    existing = client.crm.contacts.basic_api.get_page(limit=1, properties=["email"]).results[0]
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id="sdk.new@leadline.test", id_property="email", properties={"firstname": "Sdk"}
            ),
            SimplePublicObjectBatchInputUpsert(
                id=existing.properties["email"], id_property="email", properties={"firstname": "Updated"}
            ),
        ]
    )
    answer = client.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=batch)
    assert answer.status == "COMPLETE"
    by_new = {record.new: record for record in answer.results}
    assert by_new[True].properties["firstname"] == "Sdk"
    assert by_new[False].id == existing.id
    assert by_new[False].properties["firstname"] == "Updated"
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="sdk")])]
    )
    assert client.crm.contacts.search_api.do_search(public_object_search_request=request).total == 1
