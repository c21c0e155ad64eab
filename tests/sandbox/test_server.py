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


def _token(sandbox):
    accounts = sandbox.state.accounts
    return accounts.issue_access_token(accounts.refresh_tokens["1000.demo.refresh-token"]).token


def test_a_scheduled_fault_revokes_every_token_in_the_middle_of_a_run(sandbox):
    headers = {"Authorization": f"Zoho-oauthtoken {_token(sandbox)}"}
    requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"path": "^/crm/v8/users", "after": 2, "action": "revoke_tokens"},
        timeout=5,
    )
    answers = [
        requests.get(f"{sandbox.url}/crm/v8/users?type=ActiveUsers", headers=headers, timeout=5) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 401]
    assert answers[2].json()["code"] == "INVALID_TOKEN"


def test_a_scheduled_fault_edits_records_while_a_sync_pages(sandbox):
    leads = next(iter(sandbox.state.crm.orgs.values())).module("Leads")
    oldest = next(leads.iter_by_id())
    before = oldest["Modified_Time"]
    sandbox.state.clock.advance(60)
    headers = {"Authorization": f"Zoho-oauthtoken {_token(sandbox)}"}
    requests.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"path": "^/crm/v8/coql", "action": "edit_records", "module": "Leads", "count": 3},
        timeout=5,
    )
    query = {"select_query": "select Last_Name from Leads where id is not null order by id asc limit 5"}
    response = requests.post(f"{sandbox.url}/crm/v8/coql", json=query, headers=headers, timeout=5)
    assert response.status_code == 200
    assert leads.get(oldest["id"])["Modified_Time"] > before  # moved past any cursor taken before the call


def test_an_unknown_fault_action_is_refused(sandbox):
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"path": "x", "action": "explode"}, timeout=5)
    assert response.status_code == 400
    assert "unknown fault action" in response.json()["error"]
