"""The HubSpot emulator's CRM search over HTTP: both path families, the 10,000-result cap a client hits when it
follows `paging`, a 12,000-record one-timestamp batch read completely by (time, id) buckets, search's own
per-second limit and its body, no rate headers, the index lag, archived records left out, HubSpot's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.server import SandboxServer
from tests.sandbox.hubspot.hs_support import TIMEOUT, Hub, new_hub, ok

BATCH_MOMENT = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    with SandboxServer(world="empty") as running:
        yield running


def sandbox_call(server, method: str, path: str, **kwargs) -> dict:
    return ok(requests.request(method, f"{server.url}/_sandbox{path}", timeout=TIMEOUT, **kwargs)) or {}


@pytest.fixture
def hub(server) -> Hub:
    """A fresh portal with an app installed (one sandbox for the module); searches unthrottled unless a test says
    otherwise."""
    sandbox_call(server, "PATCH", "/config", json={"hs_search_requests_per_second": 1000})
    server.state.clock.reset()
    yield new_hub(server)
    sandbox_call(
        server, "PATCH", "/config", json={"hs_search_requests_per_second": 5, "hs_search_index_lag_seconds": 0}
    )
    server.state.clock.reset()


def search(hub: Hub, body: dict, *, family: str = "crm/v3/objects", object_type: str = "contacts") -> requests.Response:
    return hub.api("POST", f"/{family}/{object_type}/search", json=body)


def found(hub: Hub, body: dict) -> dict:
    return ok(search(hub, body))


def clock(hub: Hub, **move) -> None:
    sandbox_call(hub.server, "POST", "/clock", json=move)


def config(hub: Hub, **knobs) -> None:
    sandbox_call(hub.server, "PATCH", "/config", json=knobs)


def person_creates(hub: Hub, properties: dict) -> dict:
    return ok(hub.control("POST", "/records/contacts", json={"properties": properties}), 201)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def after_filter(moment: datetime, operator: str = "GT") -> dict:
    return {"propertyName": "lastmodifieddate", "operator": operator, "value": str(ms(moment))}


def test_both_path_families_answer_alike_without_rate_headers(hub: Hub) -> None:
    hub.seed("contacts", 30)
    body = {"sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}], "limit": 7, "properties": ["email"]}
    legacy = search(hub, body)
    dated = search(hub, body, family="crm/objects/2026-03")
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
    assert search(hub, body, family="crm/objects/2019-01").status_code == 404
    assert search(hub, body, object_type="widgets").json()["category"] == "VALIDATION_ERROR"


def test_following_paging_past_ten_thousand_results_is_refused(hub: Hub) -> None:
    hub.seed("contacts", 10_150)
    body = {"filterGroups": [{"filters": [after_filter(datetime(2000, 1, 1, tzinfo=UTC))]}], "limit": 200}
    body["sorts"] = ["lastmodifieddate"]
    seen, after = 0, None
    while True:
        page = search(hub, {**body, **({"after": after} if after else {})})
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
    hub.seed("contacts", 12_000, same_modified=BATCH_MOMENT.isoformat())
    moment = {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(ms(BATCH_MOMENT))}
    seen: list[str] = []
    last = "0"
    started = datetime.now(UTC)
    while True:
        bucket = [moment, {"propertyName": "hs_object_id", "operator": "GT", "value": last}]
        answer = found(hub, {"filterGroups": [{"filters": bucket}], "sorts": ["hs_object_id"], "limit": 200})
        assert answer["total"] == 12_000 - len(seen)
        if not answer["results"]:
            break
        seen += [record["id"] for record in answer["results"]]
        last = seen[-1]
    assert len(seen) == len(set(seen)) == 12_000
    assert seen == sorted(seen, key=int)
    assert datetime.now(UTC) - started < timedelta(seconds=20)
    # the range just past the batch's moment is empty; at or after it, all 12,000 count
    assert found(hub, {"filterGroups": [{"filters": [after_filter(BATCH_MOMENT)]}]})["total"] == 0
    assert found(hub, {"filterGroups": [{"filters": [after_filter(BATCH_MOMENT, "GTE")]}]})["total"] == 12_000


def test_search_has_its_own_per_second_limit_and_body(hub: Hub) -> None:
    config(hub, hs_search_requests_per_second=5)
    clock(hub, freeze_at="2026-12-01T12:00:00+00:00")
    answers = [search(hub, {"limit": 1}) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    refused = answers[-1]
    body = refused.json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your secondly limit."
    assert body["category"] == "RATE_LIMITS"
    assert body["correlationId"]
    assert "policyName" not in body
    assert not [name for name in refused.headers if name.lower().startswith("x-hubspot-ratelimit")]
    clock(hub, advance_seconds=1.001)
    assert search(hub, {"limit": 1}).status_code == 200


def test_a_write_shows_in_search_only_after_the_index_lag(hub: Hub) -> None:
    config(hub, hs_search_index_lag_seconds=30)
    clock(hub, freeze_at="2026-12-01T12:00:00+00:00")
    made = person_creates(hub, {"email": "new@lag.test"})
    query = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "NEW@lag.test"}]}]}
    assert found(hub, query)["total"] == 0
    clock(hub, advance_seconds=29)
    assert found(hub, query)["total"] == 0
    clock(hub, advance_seconds=2)
    assert [record["id"] for record in found(hub, query)["results"]] == [str(made["id"])]


def test_archived_records_never_show_and_filters_compare_by_type(hub: Hub) -> None:
    clock(hub, freeze_at="2026-12-01T12:00:00+00:00")
    ids = []
    for number, (email, stage) in enumerate(
        [("ana@gym.test", "lead"), ("bo@gym.test", "customer"), ("cy@other.test", "subscriber")]
    ):
        clock(hub, advance_seconds=60)
        record = person_creates(hub, {"email": email, "lifecyclestage": stage, "firstname": f"N{number}"})
        ids.append(str(record["id"]))
    tokens = {"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@gym.test"}]}
    assert [r["id"] for r in found(hub, {"filterGroups": [tokens]})["results"]] == ids[:2]
    stages = {"filters": [{"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "subscriber"]}]}
    assert [r["id"] for r in found(hub, {"filterGroups": [stages]})["results"]] == [ids[0], ids[2]]
    iso = {"filters": [after_filter(datetime(2026, 12, 1, 12, 2, tzinfo=UTC), "GTE")]}
    iso["filters"][0]["value"] = "2026-12-01T12:02:00Z"
    newest_first = found(hub, {"filterGroups": [iso], "sorts": ["-lastmodifieddate"]})["results"]
    assert [r["id"] for r in newest_first] == ids[:0:-1]
    assert hub.control("DELETE", f"/records/contacts/{ids[0]}").status_code < 300
    assert [r["id"] for r in found(hub, {"filterGroups": [tokens]})["results"]] == ids[1:2]
    assert found(hub, {"query": "n2"})["total"] == 1


def test_refusals_are_validation_errors(hub: Hub) -> None:
    group = {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
    too_many = search(hub, {"filterGroups": [group] * 6})
    assert too_many.status_code == 400
    assert too_many.json()["category"] == "VALIDATION_ERROR"
    assert "filter groups" in too_many.json()["message"]
    assert search(hub, {"limit": 201}).status_code == 400
    assert search(hub, {"sorts": ["email", "firstname"]}).status_code == 400
    between = {"filters": [{"propertyName": "createdate", "operator": "BETWEEN", "value": "0"}]}
    assert "highValue" in search(hub, {"filterGroups": [between]}).json()["message"]
