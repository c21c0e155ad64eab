"""The HubSpot emulator's CRM search over HTTP: both path families, the 10,000-result cap a client hits when it
follows `paging`, a 12,000-record one-timestamp batch read completely by (time, id) buckets, search's own
per-second limit and its body, no rate headers, the index lag, archived records left out, HubSpot's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.server import SandboxServer

TIMEOUT = 30
BATCH_MOMENT = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    with SandboxServer(world="empty") as running:
        yield running


@dataclass
class Hub:
    url: str
    portal_id: int
    token: str
    http: requests.Session

    def control(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, f"{self.url}/_sandbox{path}", timeout=TIMEOUT, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def search(self, body: dict, *, family: str = "crm/v3/objects", object_type: str = "contacts") -> requests.Response:
        return self.http.post(
            f"{self.url}/hubspot/{family}/{object_type}/search",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=TIMEOUT,
        )

    def ok(self, body: dict, **kwargs) -> dict:
        response = self.search(body, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def hub(server) -> Hub:
    """A fresh portal with an app installed; searches unthrottled unless a test says otherwise."""
    http = requests.Session()
    base = Hub(server.url, 0, "", http)
    base.control("PATCH", "/config", json={"hs_search_requests_per_second": 1000, "hs_search_index_lag_seconds": 0})
    server.state.clock.reset()
    portal = base.control("POST", "/hubspot/portals", json={"name": "Search Test Gym"})
    app = base.control("POST", "/hubspot/apps", json={})
    install = base.control("POST", f"/hubspot/portals/{portal['portal_id']}/installs", json={"app_id": app["app_id"]})
    yield Hub(server.url, portal["portal_id"], install["access_token"], http)
    base.control("PATCH", "/config", json={"hs_search_requests_per_second": 5, "hs_search_index_lag_seconds": 0})
    server.state.clock.reset()


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def after_filter(moment: datetime, operator: str = "GT") -> dict:
    return {"propertyName": "lastmodifieddate", "operator": operator, "value": str(ms(moment))}


def test_both_path_families_answer_alike_without_rate_headers(hub: Hub) -> None:
    hub.control("POST", f"/hubspot/portals/{hub.portal_id}/seed", json={"object_type": "contacts", "count": 30})
    body = {"sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}], "limit": 7, "properties": ["email"]}
    legacy = hub.search(body)
    dated = hub.search(body, family="crm/objects/2026-03")
    assert legacy.status_code == dated.status_code == 200
    assert legacy.json() == dated.json()
    assert not [name for name in legacy.headers if name.lower().startswith("x-hubspot-ratelimit")]
    answer = legacy.json()
    assert answer["total"] == 30
    assert answer["paging"] == {"next": {"after": "7"}}
    first = answer["results"][0]
    assert set(first) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert set(first["properties"]) == {"email", "hs_object_id", "createdate", "lastmodifieddate"}
    assert [int(r["id"]) for r in answer["results"]] == sorted((int(r["id"]) for r in answer["results"]), reverse=True)
    assert hub.search(body, family="crm/objects/2019-01").status_code == 404
    assert hub.search(body, object_type="widgets").json()["category"] == "VALIDATION_ERROR"


def test_following_paging_past_ten_thousand_results_is_refused(hub: Hub) -> None:
    hub.control("POST", f"/hubspot/portals/{hub.portal_id}/seed", json={"object_type": "contacts", "count": 10_150})
    body = {"filterGroups": [{"filters": [after_filter(datetime(2000, 1, 1, tzinfo=UTC))]}], "limit": 200}
    body["sorts"] = ["lastmodifieddate"]
    seen, after = 0, None
    while True:
        page = hub.search({**body, **({"after": after} if after else {})})
        if page.status_code != 200:
            break
        answer = page.json()
        assert answer["total"] == 10_150
        seen += len(answer["results"])
        after = answer["paging"]["next"]["after"]
    assert seen == 10_000
    assert after == "10000"
    assert page.status_code == 400
    assert page.json()["category"] == "VALIDATION_ERROR"
    assert page.json()["status"] == "error"


def test_a_twelve_thousand_record_batch_on_one_timestamp_is_read_once_by_id_buckets(hub: Hub) -> None:
    hub.control(
        "POST",
        f"/hubspot/portals/{hub.portal_id}/seed",
        json={"object_type": "contacts", "count": 12_000, "same_modified": BATCH_MOMENT.isoformat()},
    )
    moment = {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(ms(BATCH_MOMENT))}
    seen: list[str] = []
    last = "0"
    started = datetime.now(UTC)
    while True:
        bucket = [moment, {"propertyName": "hs_object_id", "operator": "GT", "value": last}]
        answer = hub.ok({"filterGroups": [{"filters": bucket}], "sorts": ["hs_object_id"], "limit": 200})
        assert answer["total"] == 12_000 - len(seen)
        if not answer["results"]:
            break
        seen += [record["id"] for record in answer["results"]]
        last = seen[-1]
    assert len(seen) == len(set(seen)) == 12_000
    assert seen == sorted(seen, key=int)
    assert datetime.now(UTC) - started < timedelta(seconds=20)
    # the range just past the batch's moment is empty; at or after it, all 12,000 count
    assert hub.ok({"filterGroups": [{"filters": [after_filter(BATCH_MOMENT)]}]})["total"] == 0
    assert hub.ok({"filterGroups": [{"filters": [after_filter(BATCH_MOMENT, "GTE")]}]})["total"] == 12_000


def test_search_has_its_own_per_second_limit_and_body(hub: Hub) -> None:
    hub.control("PATCH", "/config", json={"hs_search_requests_per_second": 5})
    hub.control("POST", "/clock", json={"freeze_at": "2026-12-01T12:00:00+00:00"})
    answers = [hub.search({"limit": 1}) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    refused = answers[-1]
    body = refused.json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your secondly limit."
    assert body["category"] == "RATE_LIMITS"
    assert body["correlationId"]
    assert "policyName" not in body
    assert not [name for name in refused.headers if name.lower().startswith("x-hubspot-ratelimit")]
    hub.control("POST", "/clock", json={"advance_seconds": 1.001})
    assert hub.search({"limit": 1}).status_code == 200


def test_a_write_shows_in_search_only_after_the_index_lag(hub: Hub) -> None:
    hub.control("PATCH", "/config", json={"hs_search_index_lag_seconds": 30})
    hub.control("POST", "/clock", json={"freeze_at": "2026-12-01T12:00:00+00:00"})
    made = hub.control(
        "POST", f"/hubspot/portals/{hub.portal_id}/records/contacts", json={"properties": {"email": "new@lag.test"}}
    )
    query = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "NEW@lag.test"}]}]}
    assert hub.ok(query)["total"] == 0
    hub.control("POST", "/clock", json={"advance_seconds": 29})
    assert hub.ok(query)["total"] == 0
    hub.control("POST", "/clock", json={"advance_seconds": 2})
    assert [record["id"] for record in hub.ok(query)["results"]] == [str(made["id"])]


def test_archived_records_never_show_and_filters_compare_by_type(hub: Hub) -> None:
    hub.control("POST", "/clock", json={"freeze_at": "2026-12-01T12:00:00+00:00"})
    ids = []
    for number, (email, stage) in enumerate(
        [("ana@gym.test", "lead"), ("bo@gym.test", "customer"), ("cy@other.test", "subscriber")]
    ):
        hub.control("POST", "/clock", json={"advance_seconds": 60})
        record = hub.control(
            "POST",
            f"/hubspot/portals/{hub.portal_id}/records/contacts",
            json={"properties": {"email": email, "lifecyclestage": stage, "firstname": f"N{number}"}},
        )
        ids.append(str(record["id"]))
    tokens = {"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@gym.test"}]}
    assert [r["id"] for r in hub.ok({"filterGroups": [tokens]})["results"]] == ids[:2]
    stages = {"filters": [{"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "subscriber"]}]}
    assert [r["id"] for r in hub.ok({"filterGroups": [stages]})["results"]] == [ids[0], ids[2]]
    iso = {"filters": [after_filter(datetime(2026, 12, 1, 12, 2, tzinfo=UTC), "GTE")]}
    iso["filters"][0]["value"] = "2026-12-01T12:02:00Z"
    assert [r["id"] for r in hub.ok({"filterGroups": [iso], "sorts": ["-lastmodifieddate"]})["results"]] == ids[:0:-1]
    hub.control("DELETE", f"/hubspot/portals/{hub.portal_id}/records/contacts/{ids[0]}")
    assert [r["id"] for r in hub.ok({"filterGroups": [tokens]})["results"]] == ids[1:2]
    assert hub.ok({"query": "n2"})["total"] == 1


def test_refusals_are_validation_errors(hub: Hub) -> None:
    group = {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
    too_many = hub.search({"filterGroups": [group] * 6})
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"
    assert "filter groups" in too_many.json()["message"]
    assert hub.search({"limit": 201}).status_code == 400
    assert hub.search({"sorts": ["email", "firstname"]}).status_code == 400
    between = {"filters": [{"propertyName": "createdate", "operator": "BETWEEN", "value": "0"}]}
    assert "highValue" in hub.search({"filterGroups": [between]}).json()["message"]
