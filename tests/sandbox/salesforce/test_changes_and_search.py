"""The Salesforce emulator's replication windows (getUpdated, getDeleted) and its SOSL phone search, over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.salesforce.state import format_sf_datetime
from sandbox.server import SandboxServer
from tests.sandbox.salesforce.query_support import Org, errors, make_org


@pytest.fixture(scope="module")
def server():
    with SandboxServer(world="empty") as running:
        yield running


@pytest.fixture
def org(server) -> Org:
    server.state.clock.reset()
    yield make_org(server)
    server.state.clock.reset()


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


# --- getUpdated / getDeleted ---------------------------------------------------------------------------------
def test_get_updated_window_ignores_seconds(org: Org) -> None:
    token = org.token()
    now = org.org.now().replace(microsecond=0)
    base = now - timedelta(hours=2)
    before = org.add("Lead", 1, stamp=format_sf_datetime(base.replace(second=0) - timedelta(seconds=1)), LastName="A")
    inside = org.add("Lead", 1, stamp=format_sf_datetime(base.replace(second=5)), LastName="B")
    later = org.add("Lead", 1, stamp=format_sf_datetime(base + timedelta(minutes=30)), LastName="C")
    start = base.replace(second=40)  # seconds ignored: the window starts at the minute
    end = base + timedelta(minutes=10, seconds=59)
    answer = org.get("sobjects/Lead/updated/", token, params={"start": _iso(start), "end": _iso(end)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ids"] == [inside[0]["Id"]]
    assert body["latestDateCovered"] == format_sf_datetime(end.replace(second=0))
    assert before[0]["Id"] not in body["ids"]
    assert later[0]["Id"] not in body["ids"]
    # an end in the future is covered up to now
    future = org.get("sobjects/Lead/updated", token, params={"start": _iso(base), "end": _iso(now + timedelta(days=1))})
    assert future.json()["latestDateCovered"] == format_sf_datetime(now.replace(second=0))
    assert later[0]["Id"] in future.json()["ids"]


@pytest.mark.parametrize(
    ("endpoint", "days"),
    [("updated", "sf_get_updated_days"), ("deleted", "sf_get_deleted_days")],
)
def test_windows_refuse_old_starts_and_short_spans(org: Org, endpoint: str, days: str) -> None:
    token = org.token()
    now = org.org.now()
    limit = getattr(org.state.config, days)
    path = f"sobjects/Lead/{endpoint}/"
    too_old = {"start": _iso(now - timedelta(days=limit, minutes=2)), "end": _iso(now)}
    assert errors(org.get(path, token, params=too_old)) == (400, "INVALID_REPLICATION_DATE")
    ok = {"start": _iso(now - timedelta(days=limit) + timedelta(minutes=2)), "end": _iso(now)}
    assert org.get(path, token, params=ok).status_code == 200
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=5)
    short = {"start": _iso(minute + timedelta(seconds=5)), "end": _iso(minute + timedelta(seconds=55))}
    assert errors(org.get(path, token, params=short)) == (400, "INVALID_REPLICATION_DATE")
    assert errors(org.get(path, token, params={"start": "yesterday", "end": _iso(now)})) == (
        400,
        "INVALID_REPLICATION_DATE",
    )
    assert org.get(path, token, params={"end": _iso(now)}).status_code == 400


def test_get_deleted_and_the_purge_moving_earliest_date_available(org: Org) -> None:
    token = org.token()
    now = org.org.now()
    kept, gone, old = org.add("Lead", 3, stamp=format_sf_datetime(now - timedelta(hours=2)), LastName="X")
    org.org.delete_record("Lead", old["Id"], at=now - timedelta(days=3))
    org.org.delete_record("Lead", gone["Id"], at=now - timedelta(hours=1))
    window = {"start": _iso(now - timedelta(days=10)), "end": _iso(now + timedelta(minutes=5))}
    body = org.get("sobjects/Lead/deleted/", token, params=window).json()
    assert [entry["id"] for entry in body["deletedRecords"]] == [old["Id"], gone["Id"]]
    assert body["deletedRecords"][0]["deletedDate"].endswith("+0000")
    default_earliest = now - timedelta(days=org.state.config.sf_get_deleted_days)
    assert body["earliestDateAvailable"] == format_sf_datetime(default_earliest.replace(second=0, microsecond=0))
    updated = org.get("sobjects/Lead/updated/", token, params=window).json()
    assert kept["Id"] in updated["ids"]
    assert gone["Id"] not in updated["ids"]

    purge_before = (now - timedelta(days=2)).replace(microsecond=0)
    org.org.purge_deleted(purge_before)
    body = org.get("sobjects/Lead/deleted/", token, params=window).json()
    assert [entry["id"] for entry in body["deletedRecords"]] == [gone["Id"]]
    assert body["earliestDateAvailable"] == format_sf_datetime(purge_before)


def test_too_many_ids(org: Org) -> None:
    token = org.token()
    org.add("Lead", 6, stamp=format_sf_datetime(org.org.now() - timedelta(minutes=30)), LastName="Many")
    org.state.config.update({"sf_id_limit": 5})
    try:
        now = org.org.now()
        params = {"start": _iso(now - timedelta(hours=1)), "end": _iso(now + timedelta(minutes=5))}
        assert errors(org.get("sobjects/Lead/updated/", token, params=params)) == (400, "EXCEEDED_ID_LIMIT")
    finally:
        org.state.config.update({"sf_id_limit": 600_000})


def test_unknown_sobject(org: Org) -> None:
    now = org.org.now()
    params = {"start": _iso(now - timedelta(hours=1)), "end": _iso(now)}
    assert org.get("sobjects/Nope/updated/", org.token(), params=params).status_code == 404


# --- SOSL ----------------------------------------------------------------------------------------------------
def test_phone_search_matches_digits_whatever_the_format(org: Org) -> None:
    token = org.token()
    formats = ["(415) 555-0123", "+1 415-555-0123", "415.555.0123", "14155550123", "+14155550123"]
    leads = [org.add("Lead", 1, LastName=f"P{n}", Phone=text)[0] for n, text in enumerate(formats)]
    mobile = org.add("Lead", 1, LastName="Mobile", MobilePhone="415 555 0123")[0]
    org.add("Lead", 1, LastName="Other", Phone="(415) 555-0199")
    contact = org.add("Contact", 1, LastName="Cee", HomePhone="4155550123")[0]
    deleted = org.add("Lead", 1, LastName="Gone", Phone="4155550123")[0]
    org.org.delete_record("Lead", deleted["Id"])
    sosl = "FIND {4155550123} IN PHONE FIELDS RETURNING Lead(Id, Name, Phone, MobilePhone ORDER BY Id), Contact(Id)"
    answer = org.get("search", token, params={"q": sosl})
    assert answer.status_code == 200, answer.text
    found = answer.json()["searchRecords"]
    leads_found = [record["Id"] for record in found if record["attributes"]["type"] == "Lead"]
    assert leads_found == sorted([lead["Id"] for lead in leads] + [mobile["Id"]])
    assert [record["Id"] for record in found if record["attributes"]["type"] == "Contact"] == [contact["Id"]]
    assert set(found[0]) == {"attributes", "Id", "Name", "Phone", "MobilePhone"}
    e164 = org.get("search", token, params={"q": "FIND {+14155550123} IN PHONE FIELDS RETURNING Lead(Id)"}).json()
    assert len(e164["searchRecords"]) == len(leads_found)


def test_search_where_limit_and_errors(org: Org) -> None:
    token = org.token()
    org.add("Lead", 3, LastName=lambda n: f"W{n}", Phone="4155550177", Status=lambda n: "Open" if n else "Closed")
    sosl = "FIND {415-555-0177} IN PHONE FIELDS RETURNING Lead(Id, Status WHERE Status = 'Open' LIMIT 1)"
    found = org.get("search", token, params={"q": sosl}).json()["searchRecords"]
    assert [record["Status"] for record in found] == ["Open"]
    assert errors(org.get("search", token, params={"q": "FIND 4155550177"})) == (400, "MALFORMED_SEARCH")
    assert (
        errors(org.get("search", token, params={"q": "FIND {4155550177} RETURNING Lead(Nope)"}))[1] == "INVALID_FIELD"
    )
    assert errors(org.get("search", token, params={"q": "FIND {4} IN PHONE FIELDS"}))[1] == "INVALID_SEARCH"


def test_parameterized_search(org: Org) -> None:
    token = org.token()
    lead = org.add("Lead", 1, LastName="Param", Phone="(212) 555-0100")[0]
    got = org.get(
        "parameterizedSearch",
        token,
        params={"q": "2125550100", "sobject": "Lead", "Lead.fields": "Id,Phone", "in": "PHONE"},
    ).json()
    assert [(record["Id"], record["Phone"]) for record in got["searchRecords"]] == [(lead["Id"], "(212) 555-0100")]
    posted = org.request(
        "POST",
        "parameterizedSearch",
        token,
        json={
            "q": "212 555 0100",
            "in": "PHONE",
            "fields": ["Id"],
            "sobjects": [{"name": "Lead"}, {"name": "Contact"}],
        },
    ).json()
    assert [record["Id"] for record in posted["searchRecords"]] == [lead["Id"]]


def test_parameterized_search_where_and_limit(org: Org) -> None:
    token = org.token()
    org.add("Lead", 3, LastName=lambda n: f"PW{n}", Phone="(646) 555-0142", Status=lambda n: "Open" if n else "Closed")
    params = {"q": "6465550142", "sobject": "Lead", "Lead.fields": "Id,Status", "in": "PHONE"}
    got = org.get("parameterizedSearch", token, params={**params, "Lead.where": "Status = 'Open'", "Lead.limit": 1})
    assert [record["Status"] for record in got.json()["searchRecords"]] == ["Open"]
