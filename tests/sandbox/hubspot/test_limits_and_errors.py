"""Rate limits (10-second rolling window per app per portal, the portal's day), their headers and 429 bodies,
scopes, the URI limit and faults in HubSpot's shapes (docs/vendors/hubspot.md, Limits and errors)."""

from __future__ import annotations

from datetime import timedelta

import requests

from tests.sandbox.hubspot.hs_support import control, error_body, new_hub, ok


def _config(server, **values):
    ok(requests.patch(f"{server.url}/_sandbox/config", json=values, timeout=10))


def test_rate_headers_count_down_and_daily_ones_are_absent_on_oauth(hub):
    first = hub.api("GET", "/crm/v3/objects/contacts")
    second = hub.api("GET", "/crm/objects/2026-03/contacts")
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert int(first.headers["X-HubSpot-RateLimit-Remaining"]) == 99
    assert int(second.headers["X-HubSpot-RateLimit-Remaining"]) == 98
    assert "X-HubSpot-RateLimit-Daily" not in first.headers
    assert "X-HubSpot-RateLimit-Daily-Remaining" not in first.headers
    private = ok(hub.control("POST", "/private-token", json={}), 201)["token"]
    answer = hub.api("GET", "/crm/v3/objects/contacts", token=private)
    assert answer.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert int(answer.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 250_000 - 3
    _config(hub.server, hs_daily_headers_on_oauth=True)
    assert "X-HubSpot-RateLimit-Daily" in hub.api("GET", "/crm/v3/objects/contacts").headers


def test_ten_second_window_refuses_with_its_policy_and_reopens(hub):
    _config(hub.server, hs_requests_per_10s=3)
    for _ in range(3):
        assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200
    refused = hub.api("GET", "/crm/v3/objects/contacts")
    assert refused.status_code == 429
    body = refused.json()
    assert body["status"] == "error"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["correlationId"]
    assert body["requestId"]
    assert "category" not in body
    hub.server.state.clock.advance(10.01)
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200


def test_the_window_is_per_app_in_each_portal(hs_server):
    _config(hs_server, hs_requests_per_10s=2)
    one = new_hub(hs_server)
    other_app = ok(control(hs_server, "POST", "/apps", json={"name": "Other"}), 201)
    second = ok(one.control("POST", "/installs", json={"app_id": other_app["app_id"]}), 201)["access_token"]
    for _ in range(2):
        assert one.api("GET", "/crm/v3/objects/contacts").status_code == 200
    assert one.api("GET", "/crm/v3/objects/contacts").status_code == 429
    assert one.api("GET", "/crm/v3/objects/contacts", token=second).status_code == 200


def test_the_daily_limit_resets_at_the_portals_midnight(hub):
    ok(hub.control("PATCH", json={"requests_per_day": 2}))
    clock = hub.server.state.clock
    # 23:30 in the portal (UTC-5), on the last day that reached it: never ahead of the clock, where the test's
    # 30-minute access token would have expired (before 04:00 UTC this test failed for that alone).
    now = clock.now()
    evening = now.replace(hour=4, minute=30)
    clock.freeze(evening if evening <= now else evening - timedelta(days=1))
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200
    refused = hub.api("GET", "/crm/v3/objects/contacts")
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "DAILY"
    assert refused.json()["message"] == "You have reached your daily limit."
    clock.advance(31 * 60)  # 00:01 the next day, portal time
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200


def test_missing_scopes(hs_server):
    hub = new_hub(hs_server, scopes=["oauth", "crm.objects.contacts.read"])
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200
    body = error_body(hub.api("GET", "/crm/v3/objects/deals"), 403, "MISSING_SCOPES")
    assert body["context"]["missingScopes"] == ["crm.objects.deals.read"]
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]
    error_body(hub.api("POST", "/crm/v3/objects/contacts", json={"properties": {}}), 403, "MISSING_SCOPES")
    error_body(hub.api("GET", "/crm/v3/owners/"), 403, "MISSING_SCOPES")
    # Engagements ride on the contacts scopes.
    assert hub.api("GET", "/crm/v3/objects/tasks").status_code == 200


def test_uri_too_long(hub):
    _config(hub.server, hs_uri_max_bytes=2000)
    names = ",".join(f"custom_property_number_{n}" for n in range(120))
    response = hub.api("GET", "/crm/v3/objects/contacts", params={"properties": names})
    assert response.status_code == 414
    assert response.json()["status"] == "error"
    body = {"inputs": [], "properties": names.split(",")}
    assert hub.api("POST", "/crm/v3/objects/contacts/batch/read", json=body).status_code == 200


def test_faults_answer_in_hubspots_shapes(hub):
    faults = [
        {"path": "^/hubspot/crm/v3/objects/contacts$", "status": 429, "times": 1},
        {"path": "^/hubspot/crm/v3/objects/deals$", "status": 502, "times": 1},
        {"path": "^/hubspot/crm/v3/objects/tasks$", "action": "hs_expire_tokens", "times": 1},
    ]
    ok(requests.post(f"{hub.server.url}/_sandbox/faults", json=faults, timeout=10))
    limited = hub.api("GET", "/crm/v3/objects/contacts")
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert hub.api("GET", "/crm/v3/objects/deals").status_code == 502
    error_body(hub.api("GET", "/crm/v3/objects/tasks"), 401, "EXPIRED_AUTHENTICATION")
    error_body(hub.api("GET", "/crm/v3/no/such/path"), 404, "OBJECT_NOT_FOUND")


def test_edit_records_fault_moves_records_while_a_client_pages(hub):
    hub.seed("contacts", 30)
    ok(
        requests.post(
            f"{hub.server.url}/_sandbox/faults",
            json={
                "path": "/hubspot/crm/v3/objects/contacts",
                "action": "hs_edit_records",
                "object_type": "contacts",
                "count": 3,
                "after": 1,
            },
            timeout=10,
        )
    )
    first = ok(hub.api("GET", "/crm/v3/objects/contacts", params={"limit": 10}))["results"]
    hub.api("GET", "/crm/v3/objects/contacts", params={"limit": 10, "after": first[-1]["id"]})
    edited = ok(hub.control("GET", "/records/contacts", params={"ids": ",".join(r["id"] for r in first[:3])}))
    assert all(record["properties"]["jobtitle"].startswith("edited") for record in edited["results"])
    assert all(record["updatedAt"] > first[0]["updatedAt"] for record in edited["results"])
