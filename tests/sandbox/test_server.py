"""The sandbox serves over real HTTP, with a control API for resets, faults, the clock and counters."""

import requests


def test_the_sandbox_answers_on_its_own_port(sandbox):
    response = requests.get(f"{sandbox.url}/_sandbox/health", timeout=5)
    assert response.status_code == 200
    assert response.json()["world"] == "demo"


def test_an_injected_fault_answers_in_the_vendors_shape_then_clears(sandbox):
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"path": "^/crm/v8/", "status": 500}, timeout=5)
    first = requests.get(f"{sandbox.url}/crm/v8/Leads", timeout=5)
    assert first.status_code == 500
    assert first.json() == {
        "code": "INTERNAL_ERROR",
        "details": {},
        "message": "Internal Server Error",
        "status": "error",
    }
    second = requests.get(f"{sandbox.url}/crm/v8/nothing/here/at/all", timeout=5)
    assert second.status_code != 500


def test_unknown_vendor_paths_get_the_vendors_not_found(sandbox):
    assert requests.get(f"{sandbox.url}/crm/v8/x/y/z/w", timeout=5).json()["code"] == "INVALID_URL_PATTERN"
    assert requests.get(f"{sandbox.url}/2010-04-01/Nope.json", timeout=5).json()["code"] == 20404


def test_the_clock_moves_on_request(sandbox):
    before = requests.get(f"{sandbox.url}/_sandbox/clock", timeout=5).json()["now"]
    after = requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": 3600}, timeout=5).json()["now"]
    assert after > before


def test_counters_count_calls_per_endpoint(sandbox):
    requests.get(f"{sandbox.url}/_sandbox/health", timeout=5)
    counters = requests.get(f"{sandbox.url}/_sandbox/counters", timeout=5).json()
    assert counters["control.health"] >= 1
