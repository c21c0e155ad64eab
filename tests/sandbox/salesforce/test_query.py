"""The Salesforce emulator's SOQL over REST, over real HTTP: answers and errors as Salesforce shapes them, batches,
locators bound to their session, eviction and expiry, ties on SystemModstamp across batches, queryAll."""

# ruff: noqa: S608 - the queries built here are SOQL sent to the emulator, not SQL

from __future__ import annotations

import pytest

from sandbox.server import SandboxServer
from tests.sandbox.salesforce.query_support import Org, errors, make_org

TIE = "2026-11-20T10:00:00.000+0000"


@pytest.fixture(scope="module")
def server():
    with SandboxServer(world="empty") as running:
        yield running


@pytest.fixture
def org(server) -> Org:
    return make_org(server)


def _leads(org: Org, count: int, *, stamp: str | None = None, **values) -> list[dict]:
    return org.add("Lead", count, stamp=stamp, LastName=lambda n: f"Lead{n:05d}", Company="Acme", **values)


def _follow(org: Org, token: str, body: dict) -> list[dict]:
    """Every record of a query, following nextRecordsUrl."""
    records = list(body["records"])
    while not body["done"]:
        answer = org.get(body["nextRecordsUrl"], token)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records += body["records"]
    return records


# --- answers -------------------------------------------------------------------------------------------------
def test_answer_shape_and_relationship_fields(org: Org) -> None:
    token = org.token()
    lead = _leads(org, 1, Phone="(415) 555-0123", City="Springfield")[0]
    answer = org.query(
        f"SELECT Id, lastname, Phone, Owner.Name, Address FROM Lead WHERE Id = '{lead['Id'][:15]}'", token
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")
    body = answer.json()
    assert body["totalSize"] == 1
    assert body["done"] is True
    assert "nextRecordsUrl" not in body
    (record,) = body["records"]
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v66.0/sobjects/Lead/{lead['Id']}"}
    assert record["Id"] == lead["Id"]
    assert record["LastName"] == "Lead00000"  # canonical names, whatever the query's case
    assert record["Owner"]["attributes"]["type"] == "User"
    assert record["Owner"]["Name"] == "User0 Tester"
    assert record["Address"]["city"] == "Springfield"


def test_count(org: Org) -> None:
    token = org.token()
    _leads(org, 5)
    body = org.query("SELECT COUNT() FROM Lead WHERE Company = 'acme'", token).json()
    assert body == {"totalSize": 5, "done": True, "records": []}


@pytest.mark.parametrize(
    ("soql", "status", "code", "text"),
    [
        ("SELECT Id FRM Lead", 400, "MALFORMED_QUERY", "ERROR at Row:1:Column:11\nunexpected token: 'FRM'"),
        ("SELECT Nope FROM Lead", 400, "INVALID_FIELD", "No such column 'Nope' on entity 'Lead'"),
        ("SELECT Id FROM Leed", 400, "INVALID_TYPE", "sObject type 'Leed' is not supported"),
        ("SELECT Id FROM Lead OFFSET 2001", 400, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"),
        (
            "SELECT Id FROM Lead WHERE SystemModstamp > '2026-01-01'",
            400,
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
    ],
)
def test_errors_as_salesforce_words_them(org: Org, soql: str, status: int, code: str, text: str) -> None:
    answer = org.query(soql, org.token())
    assert errors(answer) == (status, code)
    assert text in answer.json()[0]["message"]
    assert "Sforce-Limit-Info" in answer.headers


# --- batches -------------------------------------------------------------------------------------------------
def test_batches_of_two_thousand_then_the_hint_then_long_text(org: Org) -> None:
    token = org.token()
    _leads(org, 4500)
    body = org.query("SELECT Id FROM Lead", token).json()
    assert (body["totalSize"], body["done"], len(body["records"])) == (4500, False, 2000)
    assert body["nextRecordsUrl"].startswith("/services/data/v66.0/query/01g")
    assert body["nextRecordsUrl"].endswith("-2000")
    records = _follow(org, token, body)
    assert len({record["Id"] for record in records}) == 4500

    hinted = org.query("SELECT Id FROM Lead", token, headers={"Sforce-Query-Options": "batchSize=500"}).json()
    assert len(hinted["records"]) == 500
    tiny = org.query("SELECT Id FROM Lead", token, headers={"Sforce-Query-Options": "batchSize=10"}).json()
    assert len(tiny["records"]) == 200  # the hint is taken within 200-2,000

    long_text = org.query("SELECT Id, Description FROM Lead", token).json()
    assert len(long_text["records"]) == 2000  # one long text field: full batches
    fields = org.org.schema["Lead"].long_text_fields
    assert len(fields) >= 2
    two_long = org.query(f"SELECT Id, {fields[0]}, {fields[1]} FROM Lead", token).json()
    assert len(two_long["records"]) == 200


def test_locator_shows_the_matched_ids_with_current_values(org: Org) -> None:
    token = org.token()
    made = _leads(org, 2500, Status="Open")
    first = org.query("SELECT Id, Title FROM Lead WHERE Status = 'Open' ORDER BY Id", token).json()
    assert first["totalSize"] == 2500
    later = made[-1]
    org.org.stores["Lead"].update(later["Id"], {"Title": "changed after the query ran", "Status": "Working"})
    _leads(org, 3, Status="Open")  # new matches after the query ran are not in its result
    rest = org.get(first["nextRecordsUrl"], token).json()
    assert rest["done"] is True
    assert rest["totalSize"] == 2500
    assert len(rest["records"]) == 500
    assert rest["records"][-1]["Id"] == later["Id"]
    assert rest["records"][-1]["Title"] == "changed after the query ran"


# --- locators and sessions -----------------------------------------------------------------------------------
def test_a_locator_belongs_to_its_session(org: Org) -> None:
    token, other_token = org.token(), org.token()
    _leads(org, 2100)
    body = org.query("SELECT Id FROM Lead", token).json()
    next_url = body["nextRecordsUrl"]

    answer = org.get(next_url, other_token)  # the same user, another session
    assert errors(answer) == (401, "INVALID_SESSION_ID")
    assert answer.json()[0]["message"] == "Session expired or invalid"

    # A refresh ends the session that opened the locator: the locator is dead for the new token, for good.
    session = org.state.salesforce.org_of_token(token)[1]
    org.org.end_sessions(grant_id=session.grant_id, reason="refreshed")
    assert errors(org.get(next_url, token)) == (401, "INVALID_SESSION_ID")
    fresh = org.token()
    for _ in range(2):
        assert errors(org.get(next_url, fresh)) == (401, "INVALID_SESSION_ID")
    # the same query from the start works with the new session
    assert len(_follow(org, fresh, org.query("SELECT Id FROM Lead", fresh).json())) == 2100


def test_refresh_through_the_token_endpoint_kills_the_locator(org: Org) -> None:
    _leads(org, 2100)
    sf = org.state.salesforce
    user_id = next(iter(org.org.users))
    grant = sf.new_grant(org.org, user_id, ("api", "refresh_token"))
    token = sf.new_session(org.org, user_id, grant=grant, scopes=grant.scopes).token
    next_url = org.query("SELECT Id FROM Lead", token).json()["nextRecordsUrl"]
    refreshed = org.http.post(
        f"{org.server.url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": grant.refresh_token,
            "client_id": org.org.app.client_id,
            "client_secret": org.org.app.client_secret,
        },
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert errors(org.get(next_url, refreshed.json()["access_token"])) == (401, "INVALID_SESSION_ID")


def test_the_eleventh_open_locator_evicts_the_oldest(org: Org) -> None:
    token = org.token()
    _leads(org, 2001)
    urls = [
        org.query(f"SELECT Id FROM Lead WHERE LastName != 'x{n}'", token).json()["nextRecordsUrl"] for n in range(11)
    ]
    answer = org.get(urls[0], token)
    assert errors(answer) == (400, "INVALID_QUERY_LOCATOR")
    for url in urls[1:]:
        assert org.get(url, token).status_code == 200
    # another user's locators do not count against this one
    other = org.token(user_index=1)
    kept = org.query("SELECT Id FROM Lead", other).json()["nextRecordsUrl"]
    for _ in range(10):
        org.query("SELECT Id FROM Lead", token)
    assert org.get(kept, other).status_code == 200


def test_an_unused_locator_expires_and_a_finished_one_closes(org: Org) -> None:
    token = org.token()
    _leads(org, 4100)
    body = org.query("SELECT Id FROM Lead", token).json()
    org.state.clock.advance(org.state.config.sf_locator_ttl_seconds - 5)
    body = org.get(body["nextRecordsUrl"], token).json()  # a use keeps it open
    org.state.clock.advance(org.state.config.sf_locator_ttl_seconds + 1)
    try:
        assert errors(org.get(body["nextRecordsUrl"], org.token())) == (401, "INVALID_SESSION_ID")
    finally:
        org.state.clock.reset()
    fresh = org.token()
    first = org.query("SELECT Id FROM Lead", fresh).json()
    org.state.clock.advance(org.state.config.sf_locator_ttl_seconds + 1)
    try:
        assert errors(org.get(first["nextRecordsUrl"], fresh)) == (400, "INVALID_QUERY_LOCATOR")
    finally:
        org.state.clock.reset()
    last = org.query("SELECT Id FROM Lead", fresh).json()
    url = last["nextRecordsUrl"].rsplit("-", 1)[0] + "-4000"
    assert org.get(url, fresh).json()["done"] is True
    assert errors(org.get(url, fresh)) == (400, "INVALID_QUERY_LOCATOR")
    assert errors(org.get("query/01g000000000000AAA-2000", fresh)) == (400, "INVALID_QUERY_LOCATOR")


# --- ties, keysets and deleted rows --------------------------------------------------------------------------
def test_three_thousand_records_sharing_a_stamp_across_batches_and_keyset_pages(org: Org) -> None:
    token = org.token()
    _leads(org, 3000, stamp=TIE)
    _leads(org, 10, stamp="2026-11-20T10:00:01.000+0000")
    ordered = "SELECT Id, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"
    by_locator = _follow(org, token, org.query(ordered, token).json())
    assert len(by_locator) == 3010
    assert [record["Id"] for record in by_locator] == sorted(record["Id"] for record in by_locator[:3000]) + [
        record["Id"] for record in by_locator[3000:]
    ]

    keyset = (
        "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > '{id}') "
        "ORDER BY SystemModstamp, Id LIMIT 2000"
    )
    seen: list[str] = []
    t, last = "2026-11-20T00:00:00Z", "000000000000000AAA"
    while True:
        body = org.query(keyset.format(t=t, id=last), token).json()
        assert body["done"] is True, "a LIMIT 2000 page comes in one batch"
        if not body["records"]:
            break
        seen += [record["Id"] for record in body["records"]]
        t = body["records"][-1]["SystemModstamp"].replace(".000+0000", "Z")
        last = body["records"][-1]["Id"]
    assert len(seen) == len(set(seen)) == 3010


def test_query_all_shows_deleted_rows_until_purged(org: Org) -> None:
    token = org.token()
    kept, gone = _leads(org, 2)
    org.org.delete_record("Lead", gone["Id"])
    soql = "SELECT Id, IsDeleted FROM Lead ORDER BY Id"
    live = org.query(soql, token).json()
    assert [record["Id"] for record in live["records"]] == [kept["Id"]]
    every = org.query(soql, token, all_rows=True).json()
    assert [(record["Id"], record["IsDeleted"]) for record in every["records"]] == [
        (kept["Id"], False),
        (gone["Id"], True),
    ]
    assert org.query("SELECT COUNT() FROM Lead WHERE IsDeleted = true", token, all_rows=True).json()["totalSize"] == 1
    org.org.purge_deleted(org.org.now().replace(year=2100))
    assert len(org.query(soql, token, all_rows=True).json()["records"]) == 1


def test_query_all_locators_continue_on_query_all(org: Org) -> None:
    token = org.token()
    made = _leads(org, 2050)
    for record in made[:30]:
        org.org.delete_record("Lead", record["Id"])
    body = org.query("SELECT Id FROM Lead", token, all_rows=True).json()
    assert body["nextRecordsUrl"].startswith("/services/data/v66.0/queryAll/")
    assert len(_follow(org, token, body)) == 2050
    assert org.query("SELECT Id FROM Lead", token).json()["totalSize"] == 2020


def test_a_missing_query_string(org: Org) -> None:
    answer = org.get("query", org.token())
    assert errors(answer) == (400, "MALFORMED_QUERY")
