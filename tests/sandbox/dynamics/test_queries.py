"""Collection queries of the emulated Web API over real HTTP: $select, $filter, $orderby, $top, $count, pages by
`Prefer: odata.maxpagesize` with paging cookies in `@odata.nextLink`, and what Dataverse refuses."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.sandbox.dynamics.dv_support import ok
from tests.sandbox.dynamics.emq_support import configure, get, seed


def pages(env, path, *, prefer, params=None):
    """Every page of a query, following next links with the same Prefer header."""
    body = ok(get(env, path, prefer=prefer, params=params))
    found = [body]
    while "@odata.nextLink" in body:
        body = ok(get(env, body["@odata.nextLink"], prefer=prefer))
        found.append(body)
    return found


def test_select_filter_and_the_rows_shape(env):
    seed(env, "lead", 30)
    owner = env.users[0]["systemuserid"]
    response = get(
        env,
        "leads",
        params={
            "$select": "firstname,lastname,telephone1,_ownerid_value,leadsourcecode",
            "$filter": f"_ownerid_value eq {owner} and statecode eq 0",
        },
        prefer='odata.include-annotations="*"',
    )
    body = ok(response)
    assert response.headers["OData-Version"] == "4.0"
    assert response.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    assert body["@odata.context"] == (
        f"{env.base}/$metadata#leads(firstname,lastname,telephone1,_ownerid_value,leadsourcecode)"
    )
    expected = {
        row["leadid"] for row in env.environment.rows("lead") if row["ownerid"] == owner and row["statecode"] == 0
    }
    assert {row["leadid"] for row in body["value"]} == expected
    first = body["value"][0]
    assert first["@odata.etag"].startswith('W/"')
    assert {"firstname", "lastname", "telephone1", "_ownerid_value", "leadid"} <= set(first)
    assert "emailaddress1" not in first
    assert first["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == env.users[0]["fullname"]


def test_orderby_pages_every_row_once_in_order(env):
    seed(env, "contact", 23)
    found = pages(
        env,
        "contacts",
        prefer="odata.maxpagesize=5",
        params={"$select": "lastname,contactid", "$orderby": "lastname desc"},
    )
    assert [len(page["value"]) for page in found] == [5, 5, 5, 5, 3]
    rows = [row for page in found for row in page["value"]]
    assert len({row["contactid"] for row in rows}) == 23
    keys = [((row["lastname"] or "").casefold(), row["contactid"]) for row in rows]
    # lastname descending, the primary id ascending among equal names
    assert keys == sorted(keys, key=lambda key: (tuple(-ord(char) for char in key[0]), key[1]))


def test_the_next_link_carries_a_paging_cookie_like_dataverses(env):
    seed(env, "lead", 4)
    response = get(env, "leads", prefer="odata.maxpagesize=2", params={"$select": "fullname"})
    body = ok(response)
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=2"
    link = urlsplit(body["@odata.nextLink"])
    assert link.path.endswith("/api/data/v9.2/leads")
    options = parse_qs(link.query)
    assert options["$select"] == ["fullname"]
    cookie = options["$skiptoken"][0]
    assert cookie.startswith('<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3cleadid%20last%3d')
    assert cookie.endswith('istracking="False" />')
    last = ok(get(env, body["@odata.nextLink"], prefer="odata.maxpagesize=2"))
    assert "@odata.nextLink" not in last
    assert len(last["value"]) == 2


def test_a_page_size_above_the_maximum_is_capped(env, dv_server):
    configure(dv_server, dv_max_page_size=3, dv_default_page_size=4)
    seed(env, "account", 7)
    assert len(ok(get(env, "accounts"))["value"]) == 4  # no preference: the default page
    response = get(env, "accounts", prefer="odata.maxpagesize=50")
    assert len(ok(response)["value"]) == 3
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=3"


def test_rows_changed_between_pages_are_neither_skipped_nor_repeated(env):
    seed(env, "lead", 10)
    prefer = "odata.maxpagesize=4"
    first = ok(get(env, "leads", prefer=prefer, params={"$select": "leadid", "$orderby": "leadid"}))
    seen = [row["leadid"] for row in first["value"]]
    # A row created before the cursor and one after it, while the client pages.
    environment = env.environment
    created = [environment.create("lead", {"lastname": f"New {n}", "subject": "x"}, by="")["leadid"] for n in (1, 2)]
    body = first
    while "@odata.nextLink" in body:
        body = ok(get(env, body["@odata.nextLink"], prefer=prefer))
        seen += [row["leadid"] for row in body["value"]]
    assert len(seen) == len(set(seen))
    assert {row["leadid"] for row in environment.rows("lead")} - set(seen) <= set(created)
    assert all(row_id in seen for row_id in created if row_id > first["value"][-1]["leadid"])


def test_top_and_count(env):
    seed(env, "lead", 12)
    body = ok(
        get(env, "leads", params={"$top": "5", "$count": "true", "$select": "leadid"}, prefer="odata.maxpagesize=2")
    )
    assert len(body["value"]) == 5
    assert "@odata.nextLink" not in body
    assert body["@odata.count"] == 12


def test_count_stops_at_5000(env):
    seed(env, "lead", 5001)
    body = ok(get(env, "leads", params={"$count": "true", "$select": "leadid"}, prefer="odata.maxpagesize=1"))
    assert body["@odata.count"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True


def test_keyset_reads_on_modifiedon_and_id_as_a_client_sends_them(env):
    from datetime import UTC, datetime

    moment = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    ids = sorted(seed(env, "lead", 6, at=moment))  # one bulk edit: every row shares modifiedon
    stamp = "2026-02-01T09:00:00Z"
    condition = f"modifiedon gt {stamp} or (modifiedon eq {stamp} and leadid gt {ids[2]})"
    body = ok(
        get(env, "leads", params={"$select": "leadid", "$filter": condition, "$orderby": "modifiedon asc,leadid asc"})
    )
    assert [row["leadid"] for row in body["value"]] == ids[3:]


def test_rows_by_id_in_one_filter(env):
    ids = seed(env, "contact", 40)
    wanted = ids[5:9]
    condition = " or ".join(f"contactid eq {row_id}" for row_id in wanted)
    body = ok(get(env, "contacts", params={"$select": "contactid", "$filter": condition}))
    assert sorted(row["contactid"] for row in body["value"]) == sorted(wanted)


def test_skip_unknown_options_and_columns_are_refused(env):
    refused = get(env, "leads", params={"$skip": "10"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": "0x80060888", "message": "The query parameter $skip is not supported."}
    unknown = get(env, "leads", params={"$select": "firstname,nickname"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == (
        "Could not find a property named 'nickname' on type 'Microsoft.Dynamics.CRM.lead'."
    )
    assert get(env, "leads", params={"$orderby": "nickname"}).status_code == 400
    assert get(env, "leads", params={"$filter": "statecode eq"}).status_code == 400
    assert get(env, "leads", params={"$top": "many"}).status_code == 400
    missing = get(env, "widgets")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80060888"
    assert get(env, "leads", token="not-a-token").status_code == 401


def test_a_paging_cookie_expires_unused_and_belongs_to_its_query(env, dv_server):
    configure(dv_server, dv_skiptoken_ttl_seconds=60)
    seed(env, "lead", 6)
    first = ok(get(env, "leads", prefer="odata.maxpagesize=2", params={"$select": "leadid"}))
    link = first["@odata.nextLink"]
    cookie = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    # The same cookie on another query is not accepted.
    foreign = get(env, "leads", prefer="odata.maxpagesize=2", params={"$select": "fullname", "$skiptoken": cookie})
    assert foreign.status_code == 400
    assert "paging cookie" in foreign.json()["error"]["message"]
    assert get(env, link, prefer="odata.maxpagesize=2").status_code == 200  # fine while fresh (and again)
    dv_server.state.clock.advance(61)
    expired = get(env, link, prefer="odata.maxpagesize=2")
    assert expired.status_code == 400
    assert "paging cookie" in expired.json()["error"]["message"]
