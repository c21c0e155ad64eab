"""The kit's scheduled faults: matching, after-N and times, delays, registered actions and their parameters,
and the router answering a fault in the vendor's own shape."""

import time

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sandbox.kit.app import EmulatorApp, Vendor
from sandbox.kit.faults import FaultAction, Faults
from sandbox.kit.http import json_response
from sandbox.kit.settings import Settings
from sandbox.kit.world import EmulatorState


def test_a_rule_lets_after_calls_through_then_fires_times_times():
    faults = Faults()
    faults.add(path="^/v1/items", method="GET", status=503, after=2, times=2)
    taken = [faults.take("GET", "/v1/items/1") is not None for _ in range(5)]
    assert taken == [False, False, True, True, False]
    assert faults.take("POST", "/v1/items/1") is None  # another method
    assert (faults.list()[0]["seen"], faults.list()[0]["fired"]) == (5, 2)


def test_times_zero_fires_forever_and_clear_removes_every_rule():
    faults = Faults()
    faults.add(path="items", status=500, times=0)
    assert all(faults.take("GET", "/items") for _ in range(20))
    faults.clear()
    assert faults.take("GET", "/items") is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"status": 500}, "needs a 'path'"),
        ({"path": "(", "status": 500}, "unterminated"),
        ({"path": "x", "colour": "red"}, "unknown fault keys"),
        ({"path": "x", "action": "explode"}, "unknown fault action"),
        ({"path": "x", "count": 3}, "parameters of an action"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(spec, message):
    faults = Faults()
    faults.register(FaultAction("edit", lambda rule: None, {"count": 1}))
    with pytest.raises(Exception, match=message):
        faults.add(**spec)


def test_an_action_gets_its_parameters_with_defaults_filled_in():
    faults = Faults()
    ran = []
    faults.register(
        FaultAction("edit", lambda rule: ran.append((rule.kind, rule.count)), {"kind": "lead", "count": 10})
    )
    faults.register(FaultAction("revoke", lambda rule: ran.append("revoked")))
    faults.add(path="x", action="edit", count=3)
    faults.add(path="y", action="revoke")
    faults.run_action(faults.take("GET", "/x"))
    faults.run_action(faults.take("GET", "/y"))
    assert ran == [("lead", 3), "revoked"]
    assert faults.list()[0]["count"] == 3


def test_an_action_parameter_another_action_takes_is_refused():
    faults = Faults()
    faults.register(FaultAction("edit", lambda rule: None, {"count": 1}))
    faults.register(FaultAction("expire", lambda rule: None, {"hours": 1}))
    with pytest.raises(ValueError, match="takes"):
        faults.add(path="x", action="edit", hours=2)


class _State(EmulatorState):
    def build(self, **options):
        self.items = {"1": {"id": "1", "name": "first"}}
        self.faults.register(FaultAction("rename", lambda rule: self.items["1"].update(name="renamed")))


def _item(state, request, item_id):
    return json_response(state.items[item_id])


def _vendor_fault(status: int) -> Response:
    return json_response({"errors": [{"code": f"E{status}"}]}, status)


@pytest.fixture
def client():
    vendor = Vendor("acme", ("/v1/",), routes=[("/v1/items/<item_id>", ["GET"], _item)], fault_response=_vendor_fault)
    return Client(EmulatorApp(_State(), [vendor]))


def test_a_fault_answers_in_the_vendors_shape_unless_the_rule_gives_a_body(client):
    client.post(
        "/_sandbox/faults", json=[{"path": "^/v1/", "status": 429}, {"path": "^/v1/", "status": 500, "body": {"x": 1}}]
    )
    first, second, third = (client.get("/v1/items/1") for _ in range(3))
    assert (first.status_code, first.json) == (429, {"errors": [{"code": "E429"}]})
    assert (second.status_code, second.json) == (500, {"x": 1})
    assert third.json == {"id": "1", "name": "first"}
    counters = client.get("/_sandbox/counters").json
    assert counters["fault:/v1/items/1"] == 2
    assert counters["control.faults"] == 1  # the kit's control API is counted under control.*


def test_an_action_changes_the_world_before_the_matched_call_is_answered(client):
    client.post("/_sandbox/faults", json={"path": "^/v1/items", "action": "rename"})
    assert client.get("/v1/items/1").json["name"] == "renamed"


def test_a_delay_without_status_slows_the_call_and_answers_normally(client):
    client.post("/_sandbox/faults", json={"path": "^/v1/items", "delay": 0.2})
    started = time.monotonic()
    assert client.get("/v1/items/1").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_the_control_api_is_never_faulted_and_reset_clears_faults(client):
    client.post("/_sandbox/faults", json={"path": ".", "status": 500, "times": 0})
    assert client.get("/_sandbox/health").status_code == 200
    assert client.post("/_sandbox/reset", json={}).status_code == 200
    assert client.get("/_sandbox/faults").json == []
    assert client.get("/v1/items/1").status_code == 200


def test_unknown_settings_are_refused_and_known_ones_converted():
    from dataclasses import dataclass

    @dataclass
    class Knobs(Settings):
        page_size: int = 100
        ttl_hours: float = 1.0

    knobs = Knobs()
    knobs.update({"ttl_hours": 3, "page_size": "50"})
    assert knobs.as_dict() == {"page_size": 50, "ttl_hours": 3.0}
    with pytest.raises(ValueError, match="unknown settings"):
        knobs.update({"colour": "red"})
