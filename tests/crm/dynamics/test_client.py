"""The Dataverse client over real HTTPS against a scripted stand-in (client_support.FakeDataverse): OData headers
and Prefer, typed writes and their conditional headers, errors typed and translated to crm.errors, the one token
refresh on 401, retries of safe calls only, $batch with change sets, metadata."""

from __future__ import annotations

import pytest

from crm.errors import CrmAuthError, CrmHistoryExpired, CrmNotFound, CrmRejected
from crm.providers.dynamics import errors
from crm.providers.dynamics.errors import (
    DataverseAuthError,
    DataverseDuplicate,
    DataverseHistoryExpired,
    DataverseNotFound,
    DataversePreconditionFailed,
    DataverseRejected,
    DataverseTrackingDisabled,
    DataverseUnavailable,
)
from crm.providers.dynamics.transport import BatchOperation, ChangeSet, prefer_header
from tests.crm.dynamics.client_support import (  # noqa: F401 (fixtures)
    LEAD_ID,
    FakeDataverse,
    batch_parts,
    batch_response,
    clean_state_fixture,
    dv_account_fixture,
    dv_cert_dir_fixture,
    fake_fixture,
    make_client_fixture,
)

pytestmark = pytest.mark.django_db

WHO = {"BusinessUnitId": "b-1", "UserId": "u-1", "OrganizationId": "o-1"}


def test_every_call_carries_the_odata_headers_and_the_tenants_token(fake, make_client):
    fake.answer(FakeDataverse.json(200, WHO))
    assert make_client().whoami() == WHO
    [seen] = fake.api_seen()
    assert seen.path == "/env/harborfit/api/data/v9.2/WhoAmI"
    assert seen.headers["odata-maxversion"] == "4.0"
    assert seen.headers["odata-version"] == "4.0"
    assert seen.headers["accept"] == "application/json"
    assert seen.bearer == "at-1"
    [asked] = fake.token_requests
    assert asked["tenant"] == "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"
    assert asked["grant_type"] == "client_credentials"
    assert asked["scope"] == f"{fake.environment}/.default"


def test_prefer_preferences_travel_in_one_header(fake, make_client):
    fake.answer(FakeDataverse.json(200, {"value": []}))
    prefer = prefer_header(max_page_size=5000, track_changes=True, annotations="*")
    make_client().get("leads", {"$select": "fullname"}, prefer=prefer)
    [seen] = fake.api_seen()
    assert seen.headers["prefer"] == 'odata.track-changes,odata.maxpagesize=5000,odata.include-annotations="*"'
    assert seen.query == "%24select=fullname"


def test_prefer_composition():
    assert prefer_header() == ""
    assert prefer_header(return_representation=True, continue_on_error=True) == (
        "return=representation,odata.continue-on-error"
    )
    assert prefer_header(annotations=["A", "B"]) == 'odata.include-annotations="A,B"'


def test_pages_follow_next_links_with_the_same_preferences(fake, make_client):
    next_link = f"{fake.service_root}/leads?$select=fullname&$skiptoken=abc"
    fake.answer(
        FakeDataverse.json(200, {"value": [{"leadid": "1"}], "@odata.nextLink": next_link}),
        FakeDataverse.json(200, {"value": [{"leadid": "2"}], "@odata.deltaLink": "delta"}),
    )
    pages = list(make_client().pages("leads", {"$select": "fullname"}, page_size=2, track_changes=True))
    assert [page["value"][0]["leadid"] for page in pages] == ["1", "2"]
    first, second = fake.api_seen()
    assert second.query == "$select=fullname&$skiptoken=abc"
    assert first.headers["prefer"] == second.headers["prefer"]
    assert "odata.maxpagesize=2" in second.headers["prefer"]


def test_a_link_to_another_origin_never_gets_the_token(fake, make_client):
    with pytest.raises(DataverseRejected, match="refused to send"):
        make_client().get_url("https://elsewhere.example.com/api/data/v9.2/leads?$skiptoken=1")
    assert fake.api_seen() == []


def test_create_reads_the_new_id_from_odata_entityid(fake, make_client):
    fake.answer(FakeDataverse.json(204, None, {"OData-EntityId": f"{fake.service_root}/leads({LEAD_ID})"}))
    assert make_client().create("leads", {"lastname": "Reyes"}) == LEAD_ID
    [seen] = fake.api_seen()
    assert seen.method == "POST"
    assert seen.json() == {"lastname": "Reyes"}
    assert "mscrm.suppressduplicatedetection" not in seen.headers


def test_duplicate_detection_is_its_own_refusal(fake, make_client):
    message = "A record was not created or updated because a duplicate of the current record already exists."
    fake.answer(FakeDataverse.error(412, "0x80040333", message))
    with pytest.raises(DataverseDuplicate) as raised:
        make_client().create("leads", {"lastname": "Reyes"}, suppress_duplicates=False)
    assert fake.api_seen()[0].headers["mscrm.suppressduplicatedetection"] == "false"
    crm_error = errors.translate(raised.value)
    assert isinstance(crm_error, CrmRejected)
    assert crm_error.code == "0x80040333"


def test_update_never_creates_and_a_missing_row_is_not_found(fake, make_client):
    fake.answer(FakeDataverse.error(404, "0x80040217", f"lead With Id = {LEAD_ID} Does Not Exist"))
    with pytest.raises(DataverseNotFound) as raised:
        make_client().update("leads", LEAD_ID, {"telephone1": "1"})
    [seen] = fake.api_seen()
    assert (seen.method, seen.path, seen.headers["if-match"]) == (
        "PATCH",
        f"/env/harborfit/api/data/v9.2/leads({LEAD_ID})",
        "*",
    )
    assert isinstance(errors.translate(raised.value), CrmNotFound)


def test_upsert_by_alternate_key_modes(fake, make_client):
    fake.answer(
        FakeDataverse.json(201, {"lh_smsid": LEAD_ID}),
        FakeDataverse.json(204, None, {"OData-EntityId": f"{fake.service_root}/lh_smses({LEAD_ID})"}),
        FakeDataverse.error(412, "", "A record with matching key values already exists."),
    )
    client = make_client()
    assert client.upsert("lh_smses", {"lh_leadlinemessageid": "m-1"}, {"subject": "Hi"}) == (LEAD_ID, True)
    assert client.upsert("lh_smses", {"lh_leadlinemessageid": "O'Brien"}, {}, mode="create") == (LEAD_ID, True)
    with pytest.raises(DataversePreconditionFailed):
        client.upsert("lh_smses", LEAD_ID, {}, mode="create")
    first, second, third = fake.api_seen()
    assert first.path.endswith("/lh_smses(lh_leadlinemessageid='m-1')")
    assert first.headers["prefer"] == "return=representation"
    assert "if-none-match" not in first.headers
    assert "if-match" not in first.headers
    assert second.path.endswith("/lh_smses(lh_leadlinemessageid='O''Brien')")
    assert second.headers["if-none-match"] == "*"
    assert third.path.endswith(f"/lh_smses({LEAD_ID})")


def test_delete_of_a_missing_row_is_false(fake, make_client):
    fake.answer(FakeDataverse.json(204), FakeDataverse.error(404, "", "Does Not Exist"))
    client = make_client()
    assert client.delete("leads", LEAD_ID) is True
    assert client.delete("leads", LEAD_ID) is False


def test_a_refused_token_is_refreshed_once(fake, make_client):
    fake.answer(FakeDataverse.error(401, "", "Bearer token expired"), FakeDataverse.json(200, WHO))
    assert make_client().whoami() == WHO
    assert [seen.bearer for seen in fake.api_seen()] == ["at-1", "at-2"]
    assert len(fake.token_requests) == 2


def test_a_fresh_token_refused_again_needs_a_person(fake, make_client, dv_account):
    fake.answer(*[FakeDataverse.error(401, "", "Bearer token refused")] * 2)
    with pytest.raises(DataverseAuthError) as raised:
        make_client().whoami()
    assert len(fake.api_seen()) == 2
    assert isinstance(errors.translate(raised.value), CrmAuthError)


def test_a_missing_application_user_names_the_step(fake, make_client):
    fake.answer(FakeDataverse.error(401, "0x80072560", "The user is not a member of the organization."))
    with pytest.raises(DataverseAuthError, match="application user"):
        make_client().whoami()
    assert len(fake.api_seen()) == 1  # a refresh would not help


def test_server_errors_are_retried_for_safe_calls_only(fake, make_client):
    fake.answer(FakeDataverse.error(503, "", "busy"), FakeDataverse.json(200, WHO))
    client = make_client()
    assert client.whoami() == WHO
    assert len(client.sleep.waits) == 1
    fake.answer(FakeDataverse.error(500, "0x80040216", "An unexpected error occurred."))
    with pytest.raises(DataverseUnavailable):
        client.create("leads", {"lastname": "Reyes"})
    assert len(fake.api_seen()) == 3


def test_server_errors_give_up_after_the_retries(fake, make_client, settings):
    settings.DYNAMICS_RETRY_ATTEMPTS = 2
    fake.default = lambda request: FakeDataverse.error(502, "", "bad gateway")
    with pytest.raises(DataverseUnavailable) as raised:
        make_client().whoami()
    assert len(fake.api_seen()) == 3
    assert raised.value.retry_after is not None


def test_an_expired_delta_token_is_expired_history(fake, make_client):
    message = "Version stamp associated with the client has expired. Please perform a full sync."
    fake.answer(FakeDataverse.error(400, "0x80044352", message))
    link = f"{fake.service_root}/leads?$select=fullname&$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44"
    with pytest.raises(DataverseHistoryExpired) as raised:
        make_client().get_url(link)
    assert isinstance(errors.translate(raised.value), CrmHistoryExpired)


def test_a_dead_paging_cookie_is_expired_history_only_on_a_link(fake, make_client):
    fake.answer(*[FakeDataverse.error(400, "0x80040203", "The paging cookie is not valid or has expired.")] * 2)
    client = make_client()
    with pytest.raises(DataverseHistoryExpired):
        client.get_url(f"{fake.service_root}/leads?$skiptoken=x")
    with pytest.raises(DataverseRejected) as raised:
        client.get("leads")
    assert not isinstance(raised.value, DataverseHistoryExpired)


def test_a_table_without_change_tracking_says_so(fake, make_client):
    fake.answer(FakeDataverse.error(400, "0x80044351", "The entity doesn't have change tracking enabled."))
    with pytest.raises(DataverseTrackingDisabled):
        make_client().get("tasks", prefer=prefer_header(track_changes=True))


def test_unknown_column_blames_it(fake, make_client):
    message = "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.lead'."
    fake.answer(FakeDataverse.error(400, "0x80060888", message))
    with pytest.raises(DataverseRejected) as raised:
        make_client().get("leads", {"$select": "nosuch"})
    assert errors.translate(raised.value).field_errors == {"nosuch": raised.value.message}


def test_batch_sends_change_sets_and_reads_each_answer(fake, make_client):
    new_id = "00000000-0000-4000-8000-000000000002"
    sent: list = []

    def answer(request):
        sent.extend(batch_parts(request))
        return batch_response(
            [
                [
                    f"HTTP/1.1 204 No Content\r\nOData-EntityId: {fake.service_root}/tasks({new_id})\r\n\r\n",
                    "HTTP/1.1 204 No Content\r\n\r\n",
                ],
                'HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"",'
                '"message":"A record with matching key values already exists."}}',
            ]
        )

    fake.answer(answer)
    results = make_client().batch(
        [
            ChangeSet(
                [BatchOperation("POST", "tasks", {"subject": "a"}), BatchOperation("DELETE", f"leads({LEAD_ID})")]
            ),
            BatchOperation("PATCH", f"tasks({new_id})", {"subject": "b"}, {"If-None-Match": "*"}),
        ]
    )
    [seen] = fake.api_seen()
    assert seen.path.endswith("/$batch")
    assert seen.headers["content-type"].startswith("multipart/mixed; boundary=batch_")
    assert seen.headers["prefer"] == "odata.continue-on-error"
    assert [(method, url) for method, url, _, _ in sent] == [
        ("POST", f"{fake.service_root}/tasks"),
        ("DELETE", f"{fake.service_root}/leads({LEAD_ID})"),
        ("PATCH", f"{fake.service_root}/tasks({new_id})"),
    ]
    assert sent[2][2]["if-none-match"] == "*"
    assert sent[0][3] == {"subject": "a"}
    assert [result.status for result in results] == [204, 204, 412]
    assert results[0].entity_id == new_id
    assert results[0].ok
    assert isinstance(results[2].error, DataversePreconditionFailed)


def test_a_failed_change_set_rolls_back_all_its_operations(fake, make_client):
    fake.answer(
        lambda request: batch_response(
            [
                'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"0x80040203",'
                '"message":"lastname is required"}}'
            ]
        )
    )
    results = make_client().batch(
        [ChangeSet([BatchOperation("POST", "leads", {}), BatchOperation("POST", "leads", {"lastname": "x"})])],
        continue_on_error=False,
    )
    assert [(result.status, result.executed) for result in results] == [(400, True), (400, False)]
    assert all(isinstance(result.error, DataverseRejected) for result in results)
    assert "prefer" not in fake.api_seen()[0].headers


def test_a_batch_stopped_at_a_failure_marks_the_rest_not_run(fake, make_client):
    fake.answer(lambda request: batch_response(["HTTP/1.1 404 Not Found\r\n\r\n"]))
    results = make_client().batch(
        [BatchOperation("DELETE", f"leads({LEAD_ID})"), BatchOperation("DELETE", f"leads({LEAD_ID})")],
        continue_on_error=False,
    )
    assert [result.executed for result in results] == [True, False]
    assert isinstance(results[0].error, DataverseNotFound)


def test_metadata_calls(fake, make_client):
    fake.answer(
        FakeDataverse.json(200, {"LogicalName": "lead", "EntitySetName": "leads", "ChangeTrackingEnabled": True}),
        FakeDataverse.json(200, {"value": [{"LogicalName": "telephone1", "FormatName": {"Value": "Phone"}}]}),
        FakeDataverse.json(
            200,
            {
                "value": [
                    {
                        "LogicalName": "leadsourcecode",
                        "OptionSet": {"Options": [{"Value": 8, "Label": {"UserLocalizedLabel": {"Label": "Web"}}}]},
                    }
                ]
            },
        ),
        FakeDataverse.error(404, "0x80060888", "Resource not found for the segment"),
        FakeDataverse.json(200, {"value": [{"LogicalName": "statuscode", "OptionSet": {"Options": []}}]}),
        FakeDataverse.json(
            200,
            {
                "value": [
                    {
                        "ReferencingEntityNavigationPropertyName": "regardingobjectid_lead_task",
                        "ReferencedEntity": "lead",
                    }
                ]
            },
        ),
    )
    client = make_client()
    assert client.entity_definition("lead")["EntitySetName"] == "leads"
    assert client.attributes("lead")[0]["LogicalName"] == "telephone1"
    assert client.picklist_options("lead") == {"leadsourcecode": [{"value": 8, "label": "Web"}], "statuscode": []}
    assert client.many_to_one("task")[0]["ReferencingEntityNavigationPropertyName"] == "regardingobjectid_lead_task"
    paths = [seen.path.removeprefix("/env/harborfit/api/data/v9.2/") for seen in fake.api_seen()]
    assert paths[0] == "EntityDefinitions(LogicalName='lead')"
    assert (
        paths[2] == "EntityDefinitions(LogicalName='lead')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    assert "$expand=OptionSet" in fake.api_seen()[2].query.replace("%24", "$")
    assert paths[5] == "EntityDefinitions(LogicalName='task')/ManyToOneRelationships"


def test_a_next_link_given_twice_stops_the_paging(fake, make_client):
    link = f"{fake.service_root}/leads?$skiptoken=same"
    fake.default = lambda request: FakeDataverse.json(200, {"value": [], "@odata.nextLink": link})
    with pytest.raises(DataverseUnavailable, match="same next link"):
        list(make_client().pages("leads"))
    assert len(fake.api_seen()) == 2
