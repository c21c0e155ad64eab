"""Notification channels (`/crm/v8/actions/watch`) in the sandbox: the envelopes, expiry, and the callbacks."""

from datetime import datetime, timedelta

import pytest
import requests

from tests.sandbox.zoho_support import (
    Receiver,
    assert_matches_schema,
    auth,
    freeze,
    module_store,
    owner,
)

WATCH = "/crm/v8/actions/watch"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def watch(sandbox, method, body=None, *, params=None, headers=None):
    return requests.request(
        method, f"{sandbox.url}{WATCH}", json=body, params=params, headers=headers or auth(sandbox), timeout=10
    )


def channel(receiver, channel_id="1000000068001", **overrides):
    return {
        "channel_id": channel_id,
        "events": ["Leads.all"],
        "token": "TOKEN_FOR_VERIFICATION_1",
        "notify_url": f"{receiver.url}/zoho/notify?org=42&k=v",
        **overrides,
    }


def settle(sandbox):
    assert sandbox.state.sender.drain()


def test_enabling_a_channel_answers_201_with_each_module_subscribed(empty_sandbox, receiver):
    freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    item = channel(receiver, events=["Leads.create", "Contacts.all"], channel_expiry="2026-11-23T10:00:00-05:00")

    response = watch(empty_sandbox, "POST", {"watch": [item]})

    assert response.status_code == 201
    body = response.json()
    assert_matches_schema("notifications.json", "SuccessWrapper", body)
    [result] = body["watch"]
    assert result["code"] == "SUCCESS"
    assert result["status"] == "success"
    assert result["message"] == "Successfully subscribed for actions-watch of the given module"
    assert result["details"]["events"] == [
        {
            "channel_expiry": "2026-11-23T10:00:00-05:00",
            "resource_uri": f"{empty_sandbox.url}/crm/v8/Contacts",
            "resource_id": "4150868000000002179",
            "resource_name": "Contacts",
            "channel_id": "1000000068001",
        },
        {
            "channel_expiry": "2026-11-23T10:00:00-05:00",
            "resource_uri": f"{empty_sandbox.url}/crm/v8/Leads",
            "resource_id": "4150868000000002175",
            "resource_name": "Leads",
            "channel_id": "1000000068001",
        },
    ]


def test_a_new_lead_posts_the_a7_payload_to_notify_url_keeping_its_query_params(empty_sandbox, receiver):
    freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})

    lead = module_store(empty_sandbox).insert({"Last_Name": "Ng", "Phone": "415 555 0199"})
    settle(empty_sandbox)

    [call] = receiver.at("/zoho/notify")
    assert call.method == "POST"
    assert call.query == {"org": ["42"], "k": ["v"]}
    assert not [name for name in call.headers if "signature" in name.lower()]  # Zoho signs nothing
    assert call.json() == {
        "server_time": int(datetime.fromisoformat("2026-11-22T15:00:00+00:00").timestamp() * 1000),
        "query_params": {"org": "42", "k": "v"},
        "module": "Leads",
        "resource_uri": f"{empty_sandbox.url}/crm/v8/Leads",
        "ids": [lead["id"]],
        "operation": "insert",
        "channel_id": "1000000068001",
        "token": "TOKEN_FOR_VERIFICATION_1",
    }


def test_only_the_subscribed_events_and_modules_fire(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver, events=["Leads.edit", "Leads.delete"])]})
    leads = module_store(empty_sandbox)
    lead = leads.insert({"Last_Name": "Ng"})
    module_store(empty_sandbox, "Contacts").insert({"Last_Name": "Other module"})
    leads.update(lead["id"], {"Email": "ng@example.com"})
    leads.delete(lead["id"])
    settle(empty_sandbox)

    calls = [(call.json()["operation"], call.json()["ids"]) for call in receiver.at("/zoho/notify")]
    assert calls == [("update", [lead["id"]]), ("delete", [lead["id"]])]


def test_a_field_selection_condition_fires_only_when_those_fields_change(empty_sandbox, receiver):
    condition = {
        "type": "field_selection",
        "module": {"api_name": "Leads"},
        "field_selection": {"group_operator": "or", "group": [{"api_name": "Phone"}, {"api_name": "Mobile"}]},
    }
    item = channel(
        receiver, events=["Leads.edit"], notification_condition=[condition], return_affected_field_values=True
    )
    assert watch(empty_sandbox, "POST", {"watch": [item]}).status_code == 201
    leads = module_store(empty_sandbox)
    lead = leads.insert({"Last_Name": "Ng"})

    leads.update(lead["id"], {"Email": "ng@example.com"})
    leads.update(lead["id"], {"Mobile": "+1 415 555 0100", "Email": "x@example.com"})
    settle(empty_sandbox)

    [call] = receiver.at("/zoho/notify")
    assert call.json()["affected_fields"] == [{lead["id"]: ["Email", "Mobile"]}]
    listed = watch(empty_sandbox, "GET").json()["watch"][0]["notification_condition"][0]
    assert [node["field"]["api_name"] for node in listed["field_selection"]["group"]] == ["Phone", "Mobile"]


def test_an_and_selection_needs_every_field(empty_sandbox, receiver):
    selection = {"group_operator": "and", "group": [{"field": {"api_name": "Phone"}}, {"api_name": "Mobile"}]}
    condition = {"type": "field_selection", "module": {"api_name": "Leads"}, "field_selection": selection}
    watch(
        empty_sandbox, "POST", {"watch": [channel(receiver, events=["Leads.edit"], notification_condition=[condition])]}
    )
    leads = module_store(empty_sandbox)
    lead = leads.insert({"Last_Name": "Ng"})
    leads.update(lead["id"], {"Phone": "1"})
    leads.update(lead["id"], {"Phone": "2", "Mobile": "3"})
    settle(empty_sandbox)
    assert len(receiver.at("/zoho/notify")) == 1
    assert "affected_fields" not in receiver.at("/zoho/notify")[0].json()  # only with return_affected_field_values


def test_listing_channels_shows_each_module_of_each_live_channel(empty_sandbox, receiver):
    freeze(empty_sandbox)
    assert watch(empty_sandbox, "GET").status_code == 204  # nothing yet
    watch(empty_sandbox, "POST", {"watch": [channel(receiver, events=["Leads.all", "Deals.create"])]})

    response = watch(empty_sandbox, "GET")

    assert response.status_code == 200
    body = response.json()
    assert_matches_schema("notifications.json", "Response_Wrapper", body)
    assert body["info"] == {"per_page": 200, "count": 2, "page": 1, "more_records": False}
    assert [(entry["resource_name"], entry["events"]) for entry in body["watch"]] == [
        ("Deals", ["Deals.create"]),
        ("Leads", ["Leads.edit", "Leads.create", "Leads.delete"]),
    ]
    assert body["watch"][1]["token"] == "TOKEN_FOR_VERIFICATION_1"
    assert body["watch"][1]["notify_url"].endswith("/zoho/notify?org=42&k=v")
    only_leads = watch(empty_sandbox, "GET", params={"module": "Leads"}).json()
    assert [entry["resource_name"] for entry in only_leads["watch"]] == ["Leads"]


@pytest.mark.parametrize(
    ("requested_hours", "expected_hours"),
    [(None, 1), (12, 12), (24, 24), (48, 1)],  # missing or beyond the cap: the default hour (Kaizen #14)
)
def test_channel_expiry_defaults_to_an_hour_and_is_capped(empty_sandbox, receiver, requested_hours, expected_hours):
    now = freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    extra = {} if requested_hours is None else {"channel_expiry": (now + timedelta(hours=requested_hours)).isoformat()}

    response = watch(empty_sandbox, "POST", {"watch": [channel(receiver, **extra)]})

    expiry = response.json()["watch"][0]["details"]["events"][0]["channel_expiry"]
    assert datetime.fromisoformat(expiry) == now + timedelta(hours=expected_hours)


def test_a_lapsed_channel_stops_firing_and_must_be_recreated(empty_sandbox, receiver):
    freeze(empty_sandbox)
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    empty_sandbox.state.clock.advance(3601)

    module_store(empty_sandbox).insert({"Last_Name": "Too late"})
    settle(empty_sandbox)

    assert receiver.at("/zoho/notify") == []
    assert watch(empty_sandbox, "GET").status_code == 204
    renewal = watch(empty_sandbox, "PATCH", {"watch": [channel(receiver)]})
    assert renewal.status_code == 400
    assert renewal.json()["watch"][0]["code"] == "NOT_SUBSCRIBED"


def test_patch_renews_a_channel_and_keeps_what_it_does_not_mention(empty_sandbox, receiver):
    now = freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    watch(empty_sandbox, "POST", {"watch": [channel(receiver, return_affected_field_values=True)]})
    empty_sandbox.state.clock.advance(1800)
    later = now + timedelta(minutes=30)
    renewal = {
        "channel_id": "1000000068001",
        "events": ["Leads.all"],
        "notify_url": f"{receiver.url}/zoho/notify?org=42&k=v",
        "channel_expiry": (later + timedelta(hours=23)).isoformat(),
    }

    response = watch(empty_sandbox, "PATCH", {"watch": [renewal]})

    assert response.status_code == 200
    assert_matches_schema("notifications.json", "SuccessWrapper", response.json())
    [result] = response.json()["watch"]
    assert result["message"] == "Successfully updated the subscribe details"
    expiry = datetime.fromisoformat(result["details"]["events"][0]["channel_expiry"])
    assert expiry == later + timedelta(hours=23)
    [listed] = watch(empty_sandbox, "GET").json()["watch"]
    assert listed["token"] == "TOKEN_FOR_VERIFICATION_1"  # kept: PATCH did not mention it
    assert listed["return_affected_field_values"] is True
    empty_sandbox.state.clock.advance(3600 * 2)
    module_store(empty_sandbox).insert({"Last_Name": "Still watched"})
    settle(empty_sandbox)
    assert len(receiver.at("/zoho/notify")) == 1


def test_patch_without_notify_url_is_refused_as_the_v8_spec_requires(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    response = watch(empty_sandbox, "PATCH", {"watch": [{"channel_id": "1000000068001", "events": ["Leads.all"]}]})
    assert response.status_code == 400
    assert response.json()["watch"][0]["details"]["api_name"] == "notify_url"


def test_patch_with_delete_events_removes_only_those_events(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    response = watch(
        empty_sandbox,
        "PATCH",
        {"watch": [{"channel_id": "1000000068001", "events": ["Leads.create"], "_delete_events": True}]},
    )
    assert response.status_code == 200
    assert response.json()["watch"][0]["message"] == "Successfully removed the subscribe details"
    assert watch(empty_sandbox, "GET").json()["watch"][0]["events"] == ["Leads.edit", "Leads.delete"]
    leads = module_store(empty_sandbox)
    lead = leads.insert({"Last_Name": "Ng"})
    leads.update(lead["id"], {"Phone": "1"})
    settle(empty_sandbox)
    assert [call.json()["operation"] for call in receiver.at("/zoho/notify")] == ["update"]


def test_put_replaces_the_whole_channel(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver, events=["Leads.all", "Contacts.all"])]})
    replacement = {"channel_id": "1000000068001", "events": ["Contacts.edit"], "notify_url": f"{receiver.url}/other"}

    response = watch(empty_sandbox, "PUT", {"watch": [replacement]})

    assert response.status_code == 200
    [listed] = watch(empty_sandbox, "GET").json()["watch"]
    assert (listed["resource_name"], listed["events"], listed["token"]) == ("Contacts", ["Contacts.edit"], None)


def test_delete_disables_channels_and_answers_per_module(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver, events=["Leads.all", "Deals.all"])]})

    response = watch(empty_sandbox, "DELETE", params={"channel_ids": "1000000068001"})

    assert response.status_code == 200
    assert_matches_schema("notifications.json", "SuccessWrapper", response.json())
    assert [
        (item["message"], item["details"]["resource_uri"].rsplit("/", 1)[1]) for item in response.json()["watch"]
    ] == [
        ("Successfully un-subscribed from actions-watch", "Deals"),
        ("Successfully un-subscribed from actions-watch", "Leads"),
    ]
    module_store(empty_sandbox).insert({"Last_Name": "Unwatched"})
    settle(empty_sandbox)
    assert receiver.at("/zoho/notify") == []
    mixed = watch(empty_sandbox, "DELETE", params={"channel_ids": "1000000068001"})
    assert mixed.status_code == 400
    assert mixed.json()["watch"][0]["code"] == "NOT_SUBSCRIBED"
    assert watch(empty_sandbox, "DELETE").json()["code"] == "REQUIRED_PARAM_MISSING"


def test_a_batch_with_good_and_bad_channels_answers_207_item_by_item(empty_sandbox, receiver):
    good = channel(receiver)
    bad = {"channel_id": "1000000068002", "events": ["Leads.all"]}

    response = watch(empty_sandbox, "POST", {"watch": [good, bad]})

    assert response.status_code == 207
    first, second = response.json()["watch"]
    assert first["code"] == "SUCCESS"
    assert second == {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "notify_url", "json_path": "$.watch[1].notify_url"},
        "message": "required field not found",
        "status": "error",
    }
    assert_matches_schema("common.json", "MandatoryError", second)


@pytest.mark.parametrize(
    ("overrides", "code", "api_name", "schema"),
    [
        ({"notify_url": None}, "MANDATORY_NOT_FOUND", "notify_url", "MandatoryWrapper"),
        ({"channel_id": None}, "MANDATORY_NOT_FOUND", "channel_id", "MandatoryWrapper"),
        ({"events": ["Notes.all"]}, "INVALID_DATA", "events", "InvalidValueWrapper"),
        ({"events": ["Nonexistent.create"]}, "INVALID_DATA", "events", "InvalidValueWrapper"),
        ({"events": ["Leads.explode"]}, "INVALID_DATA", "events", "InvalidValueWrapper"),
        ({"token": "t" * 51}, "INVALID_DATA", "token", "InvalidValueWrapper"),
        ({"channel_id": "not-a-long"}, "INVALID_DATA", "channel_id", "InvalidTypeWrapper"),
        ({"channel_id": 1.5}, "INVALID_DATA", "channel_id", "InvalidTypeWrapper"),
        ({"channel_expiry": "yesterday"}, "INVALID_DATA", "channel_expiry", "InvalidTypeWrapper"),
        (
            {"notification_condition": [{"module": {"api_name": "Leads"}, "field_selection": {}}]},
            "MANDATORY_NOT_FOUND",
            "type",
            "MandatoryWrapper",
        ),
    ],
)
def test_invalid_channels_are_refused_with_zohos_error_codes(
    empty_sandbox, receiver, overrides, code, api_name, schema
):
    response = watch(empty_sandbox, "POST", {"watch": [channel(receiver, **overrides)]})

    assert response.status_code == 400
    [error] = response.json()["watch"]
    assert (error["code"], error["details"]["api_name"], error["status"]) == (code, api_name, "error")
    assert_matches_schema("notifications.json", schema, response.json())


def test_a_token_of_exactly_50_characters_is_echoed(empty_sandbox, receiver):
    token = "x" * 50
    assert watch(empty_sandbox, "POST", {"watch": [channel(receiver, token=token)]}).status_code == 201
    module_store(empty_sandbox).insert({"Last_Name": "Ng"})
    settle(empty_sandbox)
    assert receiver.at("/zoho/notify")[0].json()["token"] == token


def test_channels_of_one_org_do_not_hear_another_org(empty_sandbox, receiver):
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    crm = empty_sandbox.state.crm
    other = crm.create_org(
        "20000001",
        "Other Gym",
        [{"id": "5550001000000000001", "first_name": "Olga", "last_name": "Other", "email": "o@other.test"}],
        prefix="5550001",
    )
    other.module("Leads").insert({"Last_Name": "Theirs"})
    module_store(empty_sandbox).insert({"Last_Name": "Ours"}, by_user=owner(empty_sandbox))
    settle(empty_sandbox)
    assert len(receiver.at("/zoho/notify")) == 1


def test_throttled_watch_calls_answer_rate_limit_exceeded(empty_sandbox, receiver):
    empty_sandbox.state.config.api_credits_per_day = 0
    response = watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    assert response.status_code == 429
    assert response.json() == {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": "Too many requests. Please try again later.",
        "status": "error",
    }


def test_a_refused_patch_leaves_the_channel_as_it_was(empty_sandbox, receiver):
    freeze(empty_sandbox)
    watch(empty_sandbox, "POST", {"watch": [channel(receiver)]})
    before = watch(empty_sandbox, "GET").json()
    bad_condition = [{"type": "field_selection", "module": {"api_name": "Deals"}, "field_selection": {}}]
    change = channel(receiver, events=["Leads.create"], token="changed", notification_condition=bad_condition)

    response = watch(empty_sandbox, "PATCH", {"watch": [change]})

    assert response.status_code == 400
    assert response.json()["watch"][0]["details"]["api_name"] == "module"
    assert watch(empty_sandbox, "GET").json() == before
