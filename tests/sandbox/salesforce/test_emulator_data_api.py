"""The Salesforce emulator's data API gate: the instance host, versions, error arrays, the daily allocation with
Sforce-Limit-Info on every answer, concurrent long requests and the URI cap (fact sheet §1.2, §1.4, §7)."""

from __future__ import annotations

import threading

import requests

from tests.sandbox.salesforce.emu_support import TIMEOUT, VERSION, error_of, new_org


def test_an_org_with_its_own_instance_host_refuses_calls_to_another_host(empty_sandbox):
    org = new_org(empty_sandbox, instance_host="localhost")
    body = org.refresh()
    assert body["instance_url"] == f"http://localhost:{empty_sandbox.port}"
    assert org.call("GET", "limits").status_code == 200  # on localhost, as instance_url says
    wrong = requests.get(
        f"{empty_sandbox.url}/services/data/v{VERSION}/limits",
        headers={"Authorization": f"Bearer {org.token}"},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 401
    assert error_of(wrong)["errorCode"] == "INVALID_SESSION_ID"


def test_versions_list_needs_no_session_and_unknown_versions_are_not_found(empty_sandbox):
    versions = requests.get(f"{empty_sandbox.url}/services/data/", timeout=TIMEOUT).json()
    assert {"label": "Spring \u201926", "url": "/services/data/v66.0", "version": "66.0"} in versions
    assert versions[-1]["version"] == "68.0"
    org = new_org(empty_sandbox)
    missing = org.call("GET", "/services/data/v99.0/limits")
    assert missing.status_code == 404
    assert missing.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    resources = org.call("GET", f"/services/data/v{VERSION}/").json()
    assert resources["sobjects"] == f"/services/data/v{VERSION}/sobjects"


def test_missing_or_bad_sessions_answer_invalid_session_id(empty_sandbox):
    org = new_org(empty_sandbox)
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = requests.get(
            f"{empty_sandbox.url}/services/data/v{VERSION}/limits", headers=headers, timeout=TIMEOUT
        )
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    org.refresh()
    requests.post(f"{empty_sandbox.url}/_sandbox/clock", json={"advance_seconds": 7201}, timeout=TIMEOUT)
    assert org.call("GET", "limits").status_code == 401  # the org's session timeout passed


def test_every_answer_carries_sforce_limit_info_and_the_allocation_runs_out_with_403(empty_sandbox):
    org = new_org(empty_sandbox, daily_api_requests=5)
    org.refresh()
    assert org.call("GET", "limits").headers["Sforce-Limit-Info"] == "api-usage=1/5"
    error = org.call("GET", "sobjects/Nope/describe")
    assert error.status_code == 404
    assert error.headers["Sforce-Limit-Info"] == "api-usage=2/5"
    limits = org.call("GET", "limits").json()
    assert limits["DailyApiRequests"] == {"Max": 5, "Remaining": 2}
    org.call("GET", "limits")
    org.call("GET", "limits")
    refused = org.call("GET", "limits")
    assert refused.status_code == 403
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=5/5"
    assert error_of(refused) == {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    org.patch_settings(api_usage=0)
    assert org.call("GET", "limits").status_code == 200


def test_the_allocation_is_a_rolling_24_hours(empty_sandbox):
    org = new_org(empty_sandbox)
    org.patch_settings(daily_api_requests=100, api_usage=100)
    org.refresh()
    assert org.call("GET", "limits").status_code == 403
    requests.post(f"{empty_sandbox.url}/_sandbox/clock", json={"advance_seconds": 24 * 3600 + 1}, timeout=TIMEOUT)
    org.refresh()
    assert org.call("GET", "limits").headers["Sforce-Limit-Info"] == "api-usage=1/100"


def test_concurrent_long_running_requests_beyond_the_limit_are_refused(empty_sandbox):
    requests.patch(f"{empty_sandbox.url}/_sandbox/config", json={"sf_long_request_seconds": 0.2}, timeout=TIMEOUT)
    org = new_org(empty_sandbox)
    org.patch_settings(long_requests_max=2, slow_seconds=1.0)
    org.refresh()
    statuses = []

    def slow_call():
        statuses.append(org.call("GET", "limits").status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.5)  # both have run longer than the long-request threshold
    refused = org.call("GET", "limits")
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert refused.status_code == 403
    assert error_of(refused) == {
        "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
    }


def test_short_requests_are_never_refused_for_concurrency(empty_sandbox):
    org = new_org(empty_sandbox)
    org.patch_settings(long_requests_max=1, slow_seconds=0.3)
    org.refresh()
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(org.call("GET", "limits").status_code)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200, 200]  # none had run 20 s


def test_uri_and_header_caps_answer_414_and_431(empty_sandbox):
    requests.patch(f"{empty_sandbox.url}/_sandbox/config", json={"sf_uri_max_bytes": 2000}, timeout=TIMEOUT)
    org = new_org(empty_sandbox)
    org.refresh()
    long_query = "SELECT Id FROM Lead WHERE Id IN (" + ",".join(f"'00Q{n:015d}'" for n in range(100)) + ")"  # noqa: S608
    too_long = org.call("GET", "query", params={"q": long_query})
    assert too_long.status_code == 414
    assert error_of(too_long)["errorCode"] == "URI_TOO_LONG"
    big_headers = org.call("GET", "limits", headers={"X-Padding": "x" * 1900})
    assert big_headers.status_code == 431
    assert org.call("GET", "limits").status_code == 200


def test_describe_global_and_describe_show_types_picklists_and_custom_fields(empty_sandbox):
    org = new_org(empty_sandbox)
    names = {entry["name"] for entry in org.call("GET", "sobjects").json()["sobjects"]}
    assert {"Lead", "Contact", "Account", "Opportunity", "Task", "User"} <= names
    lead = org.call("GET", "sobjects/Lead/describe").json()
    fields = {field["name"]: field for field in lead["fields"]}
    assert len(fields) > 100
    assert lead["keyPrefix"] == "00Q"
    assert fields["MobilePhone"]["type"] == "phone"
    assert fields["MobilePhone"]["length"] == 40
    assert fields["Days_Open__c"]["calculated"] is True
    assert fields["Days_Open__c"]["updateable"] is False
    assert fields["Leadline_Id__c"]["externalId"] is True
    assert fields["Leadline_Id__c"]["unique"] is True
    assert fields["SMS_Opt_Out__c"]["type"] == "boolean"
    assert fields["SMS_Opt_Out__c"]["custom"] is True
    assert fields["Address"]["type"] == "address"
    assert fields["City"]["compoundFieldName"] == "Address"
    assert fields["Status"]["restrictedPicklist"] is True
    assert {"Open - Not Contacted", "Closed - Converted"} <= {v["value"] for v in fields["Status"]["picklistValues"]}
    assert sum(1 for f in fields.values() if f["type"] == "textarea" and f["length"] > 255) >= 2
    task = {field["name"]: field for field in org.call("GET", "sobjects/Task/describe").json()["fields"]}
    assert "SMS" in {value["value"] for value in task["Type"]["picklistValues"]}
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert task["Leadline_Message_Id__c"]["externalId"] is True
    missing = org.call("GET", "sobjects/Nope/describe")
    assert missing.status_code == 404
    assert error_of(missing)["errorCode"] == "NOT_FOUND"


def test_kit_faults_answer_in_salesforces_error_shape(empty_sandbox):
    org = new_org(empty_sandbox)
    org.refresh()
    requests.post(
        f"{empty_sandbox.url}/_sandbox/faults",
        json={"path": "/services/data/.*/limits", "status": 503, "times": 1},
        timeout=TIMEOUT,
    )
    faulted = org.call("GET", "limits")
    assert faulted.status_code == 503
    assert error_of(faulted)["errorCode"] == "SERVER_UNAVAILABLE"
    assert org.call("GET", "limits").status_code == 200


def test_the_revoke_sessions_fault_ends_the_session_under_the_call(empty_sandbox):
    org = new_org(empty_sandbox)
    org.refresh()
    requests.post(
        f"{empty_sandbox.url}/_sandbox/faults",
        json={"path": "/services/data/.*/limits", "action": "sf_revoke_sessions", "times": 1},
        timeout=TIMEOUT,
    )
    assert org.call("GET", "limits").status_code == 401
    org.refresh()
    assert org.call("GET", "limits").status_code == 200
