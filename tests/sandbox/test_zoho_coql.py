"""The sandbox's Zoho CRM COQL (`POST /crm/v8/coql`): grammar, Zoho's rules and errors, paging at scale."""

# ruff: noqa: S608 - the queries built here are COQL sent to the emulator, not SQL

import random
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox import worlds
from sandbox.state import SandboxState
from sandbox.zoho_crm import coql
from sandbox.zoho_crm.coql import CoqlError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ORG_ID = worlds.DEMO_ZOHO_ORG_ID
OWNER_ID = worlds.DEMO_USERS[0]["id"]
LEADS_FIELDS = [  # used only if the org was built without Zoho's Leads metadata
    {"api_name": name, "data_type": data_type, "json_type": json_type}
    for name, data_type, json_type in (
        ("Owner", "ownerlookup", "jsonobject"),
        ("First_Name", "text", "string"),
        ("Last_Name", "text", "string"),
        ("Email", "email", "string"),
        ("Lead_Status", "picklist", "string"),
        ("No_of_Employees", "integer", "integer"),
        ("Annual_Revenue", "currency", "double"),
        ("Email_Opt_Out", "boolean", "boolean"),
        ("Converted__s", "boolean", "boolean"),
        ("Interests", "multiselectpicklist", "jsonarray"),
        ("Trial_Date", "date", "string"),
        ("Last_SMS_Time", "datetime", "string"),
        ("Description", "textarea", "string"),
        ("Created_Time", "datetime", "string"),
        ("Modified_Time", "datetime", "string"),
    )
]


# --- helpers -------------------------------------------------------------------------------------------------
def leads_of(org):
    store = org.module("Leads")  # not `module(...) or ...`: an empty RecordStore is falsy (it has __len__)
    return store if store is not None else org.add_module("Leads", LEADS_FIELDS)


def add_lead(org, at=T0, **values):
    owner = org.users[OWNER_ID]
    return leads_of(org).insert({"Last_Name": "Doe", **values}, by_user=owner, notify=False, at=at)


def run(org, text, **options):
    return coql.query(org, text, **options)


def error_of(org, text):
    with pytest.raises(CoqlError) as caught:
        coql.query(org, text)
    return caught.value.as_dict()


def ids(body):
    return [row["id"] for row in body["data"]] if body else []


def token_for(sandbox):
    accounts = sandbox.state.accounts
    return accounts.issue_access_token(accounts.refresh_tokens[worlds.DEMO_CRM_REFRESH_TOKEN]).token


def post(sandbox, body, token=None):
    headers = {"Authorization": f"Zoho-oauthtoken {token or token_for(sandbox)}"}
    return requests.post(f"{sandbox.url}/crm/v8/coql", json=body, headers=headers, timeout=30)


@pytest.fixture
def org():
    return SandboxState(world="empty").crm.orgs[ORG_ID]


# --- the grammar ---------------------------------------------------------------------------------------------
def test_keywords_are_case_insensitive_and_only_the_selected_columns_and_id_come_back(org):
    lead = add_lead(org, First_Name="Ann", Last_Name="Smith", Email="ann@example.com")
    body = run(org, "SeLeCt Last_Name, First_Name FROM Leads WhErE Last_Name = 'Smith' LiMiT 5")
    assert body == {
        "data": [{"Last_Name": "Smith", "First_Name": "Ann", "id": lead["id"]}],
        "info": {"count": 1, "more_records": False},
    }


def test_a_column_without_a_value_comes_back_as_null(org):
    lead = add_lead(org, Last_Name="Smith")
    assert run(org, "select First_Name from Leads where id is not null")["data"] == [
        {"First_Name": None, "id": lead["id"]}
    ]


def test_the_default_limit_is_200_in_id_order(org):
    made = [add_lead(org, at=T0 - timedelta(seconds=index)) for index in range(250)]
    body = run(org, "select Last_Name from Leads where id is not null")
    assert ids(body) == sorted((lead["id"] for lead in made), key=int)[:200]
    assert body["info"] == {"count": 200, "more_records": True}


def test_where_is_optional(org):
    lead = add_lead(org)
    assert ids(run(org, "select Last_Name from Leads limit 5")) == [lead["id"]]


def test_both_limit_forms_select_the_same_page(org):
    for index in range(30):
        add_lead(org, No_of_Employees=index)
    offset_form = run(org, "select id from Leads where No_of_Employees >= 0 order by No_of_Employees limit 10 offset 5")
    mysql_form = run(org, "select id from Leads where No_of_Employees >= 0 order by No_of_Employees limit 5, 10")
    assert ids(offset_form) == ids(mysql_form)
    assert len(ids(offset_form)) == 10
    assert offset_form["info"]["more_records"] is True
    last = run(org, "select id from Leads where No_of_Employees >= 0 order by No_of_Employees limit 25, 10")
    assert last["info"] == {"count": 5, "more_records": False}


def test_more_than_two_criteria_must_be_paired_in_brackets(org):
    add_lead(org, First_Name="Ann", Last_Name="Smith", Email="ann@example.com")
    unpaired = error_of(
        org, "select id from Leads where Last_Name = 'Smith' and First_Name = 'Ann' and Email is not null"
    )
    assert unpaired == {
        "code": "SYNTAX_ERROR",
        "details": {"line": 1, "column": 70, "near": "and"},
        "message": "unexpected token",
        "status": "error",
    }
    assert (
        error_of(org, "select id from Leads where (Last_Name = 'Smith' and First_Name = 'Ann' or Email is null)")[
            "code"
        ]
        == "SYNTAX_ERROR"
    )
    for paired in (
        "select id from Leads where ((Last_Name = 'Smith' and First_Name = 'Ann') and Email is not null)",
        "select id from Leads where (Last_Name = 'Smith' and (First_Name = 'Ann' and Email is not null))",
        "select id from Leads where Last_Name = 'Smith' and (First_Name = 'Ann' or Email is null)",
        "select id from Leads where (((Last_Name = 'Smith')))",
    ):
        assert run(org, paired)["info"]["count"] == 1


def test_at_most_25_criteria(org):
    add_lead(org, No_of_Employees=1)

    def nested(count):
        criteria = "No_of_Employees = 1"
        for _ in range(count - 1):
            criteria = f"({criteria} or No_of_Employees = 2)"
        return f"select id from Leads where {criteria}"

    assert run(org, nested(25))["info"]["count"] == 1
    assert error_of(org, nested(26))["code"] == "LIMIT_EXCEEDED"


def test_string_literals_escape_a_quote_by_doubling_it(org):
    lead = add_lead(org, Last_Name="O'Brien")
    add_lead(org, Last_Name='Say "hi"')
    assert ids(run(org, "select id from Leads where Last_Name = 'O''Brien'")) == [lead["id"]]
    double_quoted = 'select Last_Name from Leads where Last_Name = "Say ""hi"""'  # "" inside "..." is one "
    assert run(org, double_quoted)["data"][0]["Last_Name"] == 'Say "hi"'
    assert error_of(org, "select id from Leads where Last_Name = 'O'Brien'")["code"] == "SYNTAX_ERROR"


def test_datetimes_with_different_offsets_compare_as_instants(org):
    early = add_lead(org, at=datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    late = add_lead(org, at=datetime(2024, 3, 1, 11, 0, tzinfo=UTC))
    # Stored in the org's zone (-05:00); asked for in UTC, in India's +05:30 and in -08:00.
    assert early["Modified_Time"] == "2024-03-01T05:00:00-05:00"
    assert ids(run(org, "select id from Leads where Modified_Time > '2024-03-01T10:00:00+00:00'")) == [late["id"]]
    assert ids(run(org, "select id from Leads where Modified_Time >= '2024-03-01T15:30:00+05:30'")) == [
        early["id"],
        late["id"],
    ]
    assert ids(run(org, "select id from Leads where Created_Time = '2024-03-01T03:00:00-08:00'")) == [late["id"]]
    assert ids(run(org, "select id from Leads where Modified_Time < '2024-03-01T02:30:00-08:00'")) == [early["id"]]


def test_a_datetime_needs_seconds_and_an_offset(org):
    add_lead(org)
    for value in ("2024-03-01T10:00:00", "2024-03-01T10:00:00Z", "2024-03-01T10:00:00.123+00:00", "2024-03-01"):
        assert error_of(org, f"select id from Leads where Modified_Time > '{value}'") == {
            "code": "INVALID_QUERY",
            "details": {"column_name": "Modified_Time", "expected_data_type": "datetime"},
            "message": "value given seems to be invalid for the column",
            "status": "error",
        }


def test_like_matches_starts_ends_and_contains_case_insensitively(org):
    smith = add_lead(org, Last_Name="Smith")
    goldsmith = add_lead(org, Last_Name="Goldsmith")
    add_lead(org, Last_Name="Jones")
    assert ids(run(org, "select id from Leads where Last_Name like 'smi%'")) == [smith["id"]]
    assert ids(run(org, "select id from Leads where Last_Name like '%SMITH'")) == [smith["id"], goldsmith["id"]]
    assert ids(run(org, "select id from Leads where Last_Name like '%dsm%'")) == [goldsmith["id"]]
    assert len(ids(run(org, "select id from Leads where Last_Name not like '%smith%'"))) == 1
    assert run(org, "select id from Leads where Last_Name like 'mith%'") is None


def test_in_and_not_in_take_up_to_100_values(org):
    statuses = ["Contacted", "Not Contacted", "Junk Lead"]
    made = [add_lead(org, Lead_Status=status) for status in statuses]
    add_lead(org)  # no status
    body = run(org, "select id from Leads where Lead_Status in ('contacted', 'Junk Lead')")
    assert ids(body) == [made[0]["id"], made[2]["id"]]
    assert ids(run(org, "select id from Leads where Lead_Status not in ('Contacted')")) == [m["id"] for m in made[1:]]
    hundred = ", ".join(f"'{index}'" for index in range(100))
    assert run(org, f"select id from Leads where Lead_Status in ({hundred})") is None
    too_many = error_of(org, f"select id from Leads where Lead_Status in ({hundred}, 'x')")
    assert too_many["code"] == "LIMIT_EXCEEDED"


def test_null_checks_and_negations_leave_empty_values_out(org):
    with_name = add_lead(org, First_Name="Ann")
    without = add_lead(org, First_Name=None)
    empty = add_lead(org, First_Name="")
    assert ids(run(org, "select id from Leads where First_Name is null")) == [without["id"], empty["id"]]
    assert ids(run(org, "select id from Leads where First_Name is not null")) == [with_name["id"]]
    # As in SQL, a comparison with an empty value is not true: != and not like leave it out (UNCONFIRMED for Zoho).
    assert run(org, "select id from Leads where First_Name != 'Ann'") is None


def test_numbers_compare_as_numbers_with_between_and_not_between(org):
    made = {count: add_lead(org, No_of_Employees=count) for count in (2, 10, 100)}
    assert ids(run(org, "select id from Leads where No_of_Employees > 9")) == [made[10]["id"], made[100]["id"]]
    assert ids(run(org, "select id from Leads where No_of_Employees between 2 and 10")) == [
        made[2]["id"],
        made[10]["id"],
    ]
    assert ids(run(org, "select id from Leads where No_of_Employees not between 2 and 10")) == [made[100]["id"]]
    assert ids(run(org, "select id from Leads where No_of_Employees = '100'")) == [made[100]["id"]]
    assert error_of(org, "select id from Leads where No_of_Employees > 'lots'")["message"] == (
        "value given seems to be invalid for the column"
    )


def test_booleans_dates_and_multi_select_picklists(org):
    opted_out = add_lead(org, Email_Opt_Out=True, Trial_Date="2024-03-05", Interests=["Yoga", "Spin"])
    other = add_lead(org, Email_Opt_Out=False, Trial_Date="2024-02-01", Interests=["HIIT"])
    assert ids(run(org, "select id from Leads where Email_Opt_Out = true")) == [opted_out["id"]]
    assert ids(run(org, "select id from Leads where Email_Opt_Out = 'false'")) == [other["id"]]
    assert ids(run(org, "select id from Leads where Trial_Date >= '2024-03-01'")) == [opted_out["id"]]
    assert ids(run(org, "select id from Leads where Interests = 'spin'")) == [opted_out["id"]]
    assert ids(run(org, "select id from Leads where Interests not in ('Yoga', 'Spin')")) == [other["id"]]
    assert run(org, "select Interests from Leads where Interests like 'Yo%'")["data"][0]["Interests"] == [
        "Yoga",
        "Spin",
    ]


def test_each_type_takes_only_its_operators(org):
    add_lead(org)
    for query, column, operator in (
        ("select id from Leads where First_Name > 'a'", "First_Name", ">"),
        ("select id from Leads where Email_Opt_Out != true", "Email_Opt_Out", "!="),
        ("select id from Leads where Owner like '4%'", "Owner", "like"),
        ("select id from Leads where Modified_Time like '2024%'", "Modified_Time", "like"),
        ("select id from Leads where Description is not null", "Description", "is not null"),
    ):
        assert error_of(org, query) == {
            "code": "INVALID_QUERY",
            "details": {"reason": "invalid operator found", "column_name": column, "operator": operator},
            "message": "Invalid query formed",
            "status": "error",
        }


def test_order_by_several_columns_and_directions_with_empty_values_first(org):
    a = add_lead(org, Last_Name="Able", No_of_Employees=5)
    b = add_lead(org, Last_Name="Baker", No_of_Employees=5)
    c = add_lead(org, Last_Name="Cole", No_of_Employees=1)
    d = add_lead(org, Last_Name="Dunn")
    body = run(org, "select id from Leads where id is not null order by No_of_Employees asc, Last_Name desc")
    assert ids(body) == [d["id"], c["id"], b["id"], a["id"]]
    body = run(org, "select id from Leads where id is not null order by No_of_Employees desc, Last_Name asc")
    assert ids(body) == [a["id"], b["id"], c["id"], d["id"]]
    assert ids(run(org, "select id from Leads where id is not null order by id desc")) == [
        d["id"],
        c["id"],
        b["id"],
        a["id"],
    ]


def test_order_by_takes_at_most_10_distinct_sortable_columns(org):
    add_lead(org)
    columns = ["Last_Name", "First_Name", "Email", "Lead_Status", "No_of_Employees", "Annual_Revenue"]
    columns += ["Created_Time", "Modified_Time", "id", "Trial_Date", "Last_SMS_Time"]
    assert error_of(org, f"select id from Leads order by {', '.join(columns)}")["code"] == "LIMIT_EXCEEDED"
    assert error_of(org, "select id from Leads order by Last_Name, Last_Name desc") == {
        "code": "DUPLICATE_DATA",
        "details": {"column_name": "Last_Name"},
        "message": "duplicate order by column",
        "status": "error",
    }
    assert error_of(org, "select id from Leads order by Description")["code"] == "INVALID_QUERY"


def test_limits_follow_zohos_caps(org):
    add_lead(org)
    base = "select id from Leads where id is not null "
    assert error_of(org, base + "limit 0") == {
        "code": "INVALID_DATA",
        "details": {},
        "message": "limit should be greater than 0",
        "status": "error",
    }
    assert error_of(org, base + "limit -5")["message"] == "limit should be greater than 0"
    assert error_of(org, base + "limit s") == {
        "code": "INVALID_QUERY",
        "details": {"limit": "s"},
        "message": "limit given seems to be invalid",
        "status": "error",
    }
    assert error_of(org, base + "limit 2001")["code"] == "LIMIT_EXCEEDED"
    assert error_of(org, base + "limit 2000 offset 98001")["code"] == "LIMIT_EXCEEDED"
    assert error_of(org, base + "limit 99999, 2")["code"] == "LIMIT_EXCEEDED"
    assert run(org, base + "limit 2000 offset 98000") is None  # the last reachable page: allowed, and empty here
    assert error_of(org, base + "limit 10 offset x")["code"] == "INVALID_QUERY"


def test_syntax_errors_say_where(org):
    assert error_of(org, "select id\nfrom Leads\nwhere Last_Name = 'x' limit 5 5") == {
        "code": "SYNTAX_ERROR",
        "details": {"line": 3, "column": 30, "near": "5"},
        "message": "unexpected token",
        "status": "error",
    }
    assert error_of(org, "select from Leads")["details"] == {"clause": "select"}
    assert error_of(org, "select id from")["details"] == {"clause": "from"}
    assert error_of(org, "select id from Leads where")["details"] == {"clause": "where"}
    assert error_of(org, "select id from Leads where order by id")["details"] == {"clause": "where"}
    assert error_of(org, "select id from Leads where not Last_Name = 'x'")["details"] == {"operator": "not"}
    assert error_of(org, "select id from Leads where Last_Name <> 'x'")["details"] == {"operator": "<>"}
    assert (
        error_of(org, "select id from Leads where Last_Name = 'x")["message"] == "error occured while parsing the query"
    )
    assert error_of(org, "select id from Leads where id is not null;")["details"]["near"] == ";"
    assert error_of(org, "select * from Leads")["details"]["near"] == "*"
    assert error_of(org, "delete from Leads")["message"] == "given coql query not supported"


def test_reserved_words_must_be_quoted(org):
    lead = add_lead(org, Last_Name="Smith")
    assert error_of(org, "select External from Leads where id is not null")["details"] == {
        "line": 1,
        "column": 7,
        "near": "External",
    }
    assert error_of(org, "select 'External' from Leads where id is not null") == {
        "code": "INVALID_QUERY",
        "details": {"column_name": "External"},
        "message": "unsupported column",
        "status": "error",
    }
    assert ids(run(org, "select 'Last_Name' from Leads where 'Last_Name' = 'Smith'")) == [lead["id"]]


def test_unknown_modules_columns_and_duplicate_columns_are_refused(org):
    add_lead(org)
    assert error_of(org, "select id from Gyms where id is not null") == {
        "code": "INVALID_MODULE",
        "details": {},
        "message": "the given module is not supported in api",
        "status": "error",
    }
    assert error_of(org, "select Nickname from Leads")["details"] == {"column_name": "Nickname"}
    assert error_of(org, "select id from Leads where Nickname = 'x'")["details"]["column_name"] == "Nickname"
    assert error_of(org, "select Owner.shoe_size from Leads")["details"] == {"column_name": "Owner.shoe_size"}
    assert error_of(org, "select First_Name, Last_Name, First_Name from Leads") == {
        "code": "DUPLICATE_DATA",
        "details": {"column_name": "First_Name"},
        "message": "duplicate select column",
        "status": "error",
    }
    too_many = ", ".join(["id"] + [f"Field_{index}" for index in range(500)])
    assert error_of(org, f"select {too_many} from Leads")["code"] == "LIMIT_EXCEEDED"


def test_aggregates_are_not_emulated_and_unknown_functions_are_not_zohos(org):
    add_lead(org)
    assert error_of(org, "select COUNT(id) from Leads") == {
        "code": "SYNTAX_ERROR",
        "details": {},
        "message": "given coql query not supported",
        "status": "error",
    }
    assert error_of(org, "select TestFunction(Last_Name) from Leads") == {
        "code": "INVALID_DATA",
        "details": {"reason": "unsupported aggregate function", "column": "TestFunction(Last_Name)"},
        "message": "invalid data",
        "status": "error",
    }


def test_lookups_come_back_as_ids_and_dotted_paths_as_flat_keys(org):
    lead = add_lead(org, Last_Name="Smith")
    body = run(org, f"select Owner, Owner.first_name, Owner.email, Last_Name from Leads where Owner = '{OWNER_ID}'")
    assert body["data"] == [
        {
            "Owner": {"id": OWNER_ID},
            "Owner.first_name": "Morgan",
            "Owner.email": "manager@demo.leadline.test",
            "Last_Name": "Smith",
            "id": lead["id"],
        }
    ]
    assert ids(run(org, "select id from Leads where Owner.email = 'MANAGER@demo.leadline.test'")) == [lead["id"]]


def test_a_lookup_to_another_module_reads_the_related_record(org):
    accounts = org.module("Accounts")
    contacts = org.module("Contacts")
    if accounts is None or contacts is None:
        pytest.skip("the org has no Accounts/Contacts metadata")
    owner = org.users[OWNER_ID]
    account = accounts.insert({"Account_Name": "Zylker"}, by_user=owner, notify=False, at=T0)
    contact = contacts.insert(
        {"Last_Name": "Doe", "Account_Name": {"name": "Zylker", "id": account["id"]}},
        by_user=owner,
        notify=False,
        at=T0,
    )
    body = run(
        org, "select Account_Name, Account_Name.Account_Name from Contacts where Account_Name.Account_Name = 'zylker'"
    )
    assert body["data"] == [
        {"Account_Name": {"id": account["id"]}, "Account_Name.Account_Name": "Zylker", "id": contact["id"]}
    ]


def test_converted_leads_are_returned(org):
    converted = add_lead(org, Converted__s=True, **{"$converted": True})
    open_lead = add_lead(org, Converted__s=False)
    assert ids(run(org, "select id from Leads where id is not null")) == [converted["id"], open_lead["id"]]
    assert ids(run(org, "select id from Leads where Converted__s = false")) == [open_lead["id"]]


def test_index_reads_agree_with_a_plain_filter_and_sort(org):
    """The bisected, early-stopping index reads must select exactly what filtering and sorting everything does."""
    rng = random.Random(7)
    moments = [T0 + timedelta(seconds=rng.randrange(20)) for _ in range(300)]
    for moment in moments:
        add_lead(org, at=moment, No_of_Employees=rng.randrange(4))
    records = list(leads_of(org).records.values())

    def key(record):
        return (datetime.fromisoformat(record["Modified_Time"]), int(record["id"]))

    def at(seconds):
        return T0 + timedelta(seconds=seconds)

    def stamp(seconds):
        return at(seconds).isoformat()

    def when(record):
        return key(record)[0]

    pivot = sorted(records, key=key)[140]
    pt, pid, t = when(pivot), int(pivot["id"]), pivot["Modified_Time"]
    first = records[0]["id"]
    cases = [
        (f"Modified_Time >= '{stamp(5)}'", lambda r: when(r) >= at(5)),
        (f"Modified_Time > '{stamp(5)}'", lambda r: when(r) > at(5)),
        (f"Modified_Time < '{stamp(5)}'", lambda r: when(r) < at(5)),
        (f"Modified_Time = '{t}'", lambda r: when(r) == pt),
        (f"Modified_Time between '{stamp(3)}' and '{stamp(9)}'", lambda r: at(3) <= when(r) <= at(9)),
        (f"((Modified_Time > '{t}') or (Modified_Time = '{t}' and id > '{pid}'))", lambda r: key(r) > (pt, pid)),
        (f"((Modified_Time < '{t}') or (Modified_Time = '{t}' and id < '{pid}'))", lambda r: key(r) < (pt, pid)),
        (f"(Modified_Time = '{t}' and id >= '{pid}')", lambda r: when(r) == pt and int(r["id"]) >= pid),
        (
            f"(Modified_Time >= '{stamp(4)}' and No_of_Employees = 2)",
            lambda r: when(r) >= at(4) and r["No_of_Employees"] == 2,
        ),
        (f"(id > '{pid}' and Modified_Time <= '{stamp(12)}')", lambda r: int(r["id"]) > pid and when(r) <= at(12)),
        (f"id in ('{pid}', '{first}')", lambda r: r["id"] in (str(pid), first)),
        ("id is not null", lambda r: True),
    ]
    orderings = {
        "Modified_Time asc, id asc": (key, False),
        "Modified_Time desc, id desc": (key, True),
        "Modified_Time": (key, False),
        "id": (lambda r: int(r["id"]), False),
        "id desc": (lambda r: int(r["id"]), True),
    }
    for criteria, accept in cases:
        for order, (sort_key, descending) in orderings.items():
            expected = [r["id"] for r in sorted(filter(accept, records), key=sort_key, reverse=descending)]
            for limit, offset in ((7, 0), (50, 30), (2000, 0)):
                body = run(org, f"select id from Leads where {criteria} order by {order} limit {offset}, {limit}")
                assert ids(body) == expected[offset : offset + limit], (criteria, order, limit, offset)
                if body:
                    assert body["info"]["more_records"] == (len(expected) > offset + limit)


def test_every_field_of_the_demo_leads_can_be_selected_filtered_and_sorted(sandbox):
    """The demo world's seeded leads, every type of field: nothing crashes, and COQL sees every lead."""
    org = sandbox.state.crm.orgs[ORG_ID]
    store = org.module("Leads")
    assert len(store) > 0
    everything = run(org, "select Last_Name from Leads limit 2000")
    assert len(ids(everything)) == len(store)  # converted leads included
    assert any(record.get("$converted") for record in store.records.values())
    for meta in org.fields["Leads"]:
        name = meta["api_name"]
        body = run(org, f"select {name} from Leads where id is not null limit 3")
        assert all(name in row for row in body["data"])
        if meta.get("filterable") and meta["data_type"] != "boolean":
            matched = run(org, f"select id from Leads where {name} is not null limit 2000")
            assert len(ids(matched)) == sum(
                1 for record in store.records.values() if record.get(name) not in (None, "", [])
            )
        if meta.get("sortable"):
            assert run(org, f"select id from Leads order by {name} desc, id limit 5")["info"]["count"] == 5


# --- the endpoint over HTTP ----------------------------------------------------------------------------------
def test_the_endpoint_answers_data_and_info(empty_sandbox):
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    lead = add_lead(org, Last_Name="Smith", First_Name="John")
    response = post(
        empty_sandbox, {"select_query": "select Last_Name, First_Name from Leads where Last_Name = 'Smith'"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": [{"Last_Name": "Smith", "First_Name": "John", "id": lead["id"]}],
        "info": {"count": 1, "more_records": False},
    }


def test_no_match_is_204_with_no_body(empty_sandbox):
    response = post(empty_sandbox, {"select_query": "select id from Leads where Last_Name = 'Nobody'"})
    assert response.status_code == 204
    assert response.content == b""


def test_errors_are_400_in_zohos_envelope(empty_sandbox):
    response = post(empty_sandbox, {"select_query": "select id from Leads limit 0"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "INVALID_DATA",
        "details": {},
        "message": "limit should be greater than 0",
        "status": "error",
    }
    for body in ({}, {"select_query": None}, {"select_query": "  "}):
        missing = post(empty_sandbox, body)
        assert missing.status_code == 400
        assert missing.json() == {
            "code": "MANDATORY_NOT_FOUND",
            "details": {"api_name": "select_query"},
            "message": "mandatory key not found",
            "status": "error",
        }


def test_include_meta_adds_the_selected_fields_metadata(empty_sandbox):
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    add_lead(org, Last_Name="TestLead")
    response = post(
        empty_sandbox,
        {
            "select_query": "select Last_Name, Owner.email from Leads where Last_Name = 'TestLead'",
            "include_meta": ["fields"],
        },
    )
    body = response.json()
    assert list(body) == ["data", "fields", "info"]
    assert list(body["fields"]) == ["Last_Name"]
    assert body["fields"]["Last_Name"]["api_name"] == "Last_Name"
    assert body["fields"]["Last_Name"]["data_type"] == "text"
    wrong = post(empty_sandbox, {"select_query": "select id from Leads", "include_meta": ["layouts"]})
    assert wrong.json() == {
        "code": "INVALID_DATA",
        "details": {"api_name": "include_meta", "json_path": "$.include_meta[0]", "supported_values": ["fields"]},
        "message": "invalid data",
        "status": "error",
    }
    assert post(empty_sandbox, {"select_query": "select id from Leads", "include_meta": "fields"}).json()[
        "details"
    ] == {
        "expected_data_type": "jsonarray",
        "api_name": "include_meta",
        "json_path": "$.include_meta",
    }


def test_credits_are_charged_by_limit(empty_sandbox):
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    add_lead(org)
    counters = empty_sandbox.state.counters
    spent = []
    for limit in (1, 200, 201, 1000, 1001, 2000):
        before = counters[f"credits:{ORG_ID}"]
        post(empty_sandbox, {"select_query": f"select id from Leads where id is not null limit {limit}"})
        spent.append(counters[f"credits:{ORG_ID}"] - before)
    before = counters[f"credits:{ORG_ID}"]
    post(empty_sandbox, {"select_query": "select id from Leads where id is not null"})
    assert [*spent, counters[f"credits:{ORG_ID}"] - before] == [1, 1, 2, 2, 3, 3, 1]
    before = counters[f"credits:{ORG_ID}"]
    post(empty_sandbox, {"select_query": "select id from Leads limit 0"})
    assert counters[f"credits:{ORG_ID}"] == before  # a refused query costs nothing


def test_the_token_must_be_valid_and_carry_the_scopes(empty_sandbox):
    query = {"select_query": "select id from Leads where id is not null"}
    bare = requests.post(f"{empty_sandbox.url}/crm/v8/coql", json=query, timeout=10)
    assert bare.status_code == 401
    assert post(empty_sandbox, query, token="1000.nope.nope").json()["code"] == "INVALID_TOKEN"
    accounts = empty_sandbox.state.accounts
    refresh = accounts.refresh_tokens[worlds.DEMO_CRM_REFRESH_TOKEN]
    for scopes in (("ZohoCRM.modules.ALL",), ("ZohoCRM.coql.READ", "ZohoCRM.modules.contacts.READ")):
        refresh.scopes = scopes
        limited = accounts.issue_access_token(refresh).token
        response = post(empty_sandbox, query, token=limited)
        assert response.status_code == 401
        assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    refresh.scopes = ("ZohoCRM.coql.READ", "ZohoCRM.modules.leads.READ")
    enough = accounts.issue_access_token(refresh).token
    assert post(empty_sandbox, query, token=enough).status_code == 204
    fields = post(empty_sandbox, {**query, "include_meta": ["fields"]}, token=enough)
    assert fields.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_paging_reads_past_2000_records_and_stops_at_the_100000_record_reach(empty_sandbox):
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    made = [add_lead(org, at=T0 + timedelta(seconds=index // 7))["id"] for index in range(4500)]
    token = token_for(empty_sandbox)
    seen, offset = [], 0
    while True:
        text = f"select Last_Name from Leads where id is not null order by id limit {offset}, 2000"
        response = post(empty_sandbox, {"select_query": text}, token=token)
        if response.status_code == 204:
            break
        body = response.json()
        seen += ids(body)
        offset += 2000
        if not body["info"]["more_records"]:
            break
    assert seen == made
    last = post(empty_sandbox, {"select_query": "select id from Leads limit 2000 offset 98000"}, token=token)
    assert last.status_code == 204
    beyond = post(empty_sandbox, {"select_query": "select id from Leads limit 2000 offset 98001"}, token=token)
    assert beyond.status_code == 400
    assert beyond.json()["code"] == "LIMIT_EXCEEDED"
    too_big = post(empty_sandbox, {"select_query": "select id from Leads limit 2001"}, token=token)
    assert too_big.json()["code"] == "LIMIT_EXCEEDED"


def keyset_walk(sandbox, token, *, since="2000-01-01T00:00:00+00:00", page=2000):
    """What a mirror does: Modified_Time order, resuming after the last (Modified_Time, id) seen."""
    seen = []
    criteria = f"Modified_Time >= '{since}'"
    while True:
        order = f"order by Modified_Time asc, id asc limit {page}"
        text = f"select Last_Name, Modified_Time from Leads where {criteria} {order}"
        response = post(sandbox, {"select_query": text}, token=token)
        if response.status_code == 204:
            return seen
        assert response.status_code == 200, response.text
        body = response.json()
        seen += ids(body)
        if not body["info"]["more_records"]:
            return seen
        last = body["data"][-1]
        t, last_id = last["Modified_Time"], last["id"]
        criteria = f"((Modified_Time > '{t}') or (Modified_Time = '{t}' and id > '{last_id}'))"


def test_a_keyset_walk_through_5000_records_with_one_modified_time_loses_and_repeats_nothing(empty_sandbox):
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    before = [add_lead(org, at=T0 - timedelta(hours=1))["id"] for _ in range(10)]
    same = [add_lead(org, at=T0)["id"] for _ in range(5000)]
    after = [add_lead(org, at=T0 + timedelta(hours=1))["id"] for _ in range(10)]
    seen = keyset_walk(empty_sandbox, token_for(empty_sandbox), page=1000)
    assert len(seen) == len(set(seen)) == 5020
    assert seen == before + same + after


@pytest.mark.slow
def test_paging_200000_leads_by_keyset_and_by_offset(empty_sandbox):
    """Correctness at scale (timings are measured separately and reported, not asserted)."""
    org = empty_sandbox.state.crm.orgs[ORG_ID]
    owner = org.users[OWNER_ID]
    store = leads_of(org)
    for index in range(200_000):
        store.insert(
            {"Last_Name": f"Lead {index}", "Email": f"lead{index}@example.com"},
            by_user=owner,
            notify=False,
            at=T0 + timedelta(seconds=index // 3),
        )
    in_order = [record["id"] for record in store.iter_by_modified()]
    token = token_for(empty_sandbox)
    seen = keyset_walk(empty_sandbox, token)
    assert seen == in_order
    text = "select Last_Name from Leads where id is not null order by Modified_Time asc, id asc limit 98000, 2000"
    body = post(empty_sandbox, {"select_query": text}, token=token).json()
    assert ids(body) == in_order[98_000:100_000]
    assert body["info"] == {"count": 2000, "more_records": True}
