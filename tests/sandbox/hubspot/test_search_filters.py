"""HubSpot search, without HTTP: each operator on each property type, the request's limits and their messages, and
the runner's index slices agreeing with a plain scan (ties on one timestamp, id buckets, paging, the cap)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from sandbox.hubspot.search import Target, run
from sandbox.hubspot.search_filters import SearchRefused, condition, contains_token, epoch_ms, parse_request
from sandbox.kit.clock import Clock
from sandbox.kit.store import IdSequence, RecordStore

TYPES = {
    "lastmodifieddate": "datetime",
    "createdate": "datetime",
    "closedate": "date",
    "amount": "number",
    "leadline_sms_opt_out": "bool",
}
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def type_of(name: str) -> str:
    return TYPES.get(name, "string")


def config(**changes):
    values = {
        "hs_search_filter_groups_max": 5,
        "hs_search_filters_per_group_max": 10,
        "hs_search_filters_max": 25,
        "hs_search_sorts_max": 1,
        "hs_search_page_max": 200,
        "hs_search_max_results": 10_000,
    }
    values.update(changes)
    return SimpleNamespace(**values)


def check(op: str, raw, *args: str, **spec) -> bool:
    name = args[0] if args else "email"
    return condition({"propertyName": name, "operator": op, **spec}, type_of).test(raw)


# --- operators -------------------------------------------------------------------------------------------------
def test_text_compares_without_case_and_missing_values_match_only_the_negative_operators() -> None:
    assert check("EQ", "Ana@Example.com", value="ana@example.COM")
    assert not check("EQ", None, value="x")
    assert check("NEQ", None, value="x")
    assert check("NEQ", "y", value="x")
    assert not check("NEQ", "X", value="x")
    assert check("IN", "Lead", values=["lead", "subscriber"])
    assert not check("IN", "customer", values=["lead"])
    assert check("NOT_IN", None, values=["lead"])
    assert not check("NOT_IN", "LEAD", values=["lead"])
    assert check("HAS_PROPERTY", "a")
    assert not check("HAS_PROPERTY", "")
    assert not check("HAS_PROPERTY", None)
    assert check("NOT_HAS_PROPERTY", "")
    assert check("NOT_HAS_PROPERTY", None)
    assert not check("NOT_HAS_PROPERTY", "a")
    assert check("LT", "apple", value="Banana")
    assert not check("GT", "apple", value="banana")


def test_numbers_compare_numerically_and_hs_object_id_is_a_number() -> None:
    assert check("GT", "10", "amount", value="9")  # as text "10" < "9"
    assert check("BETWEEN", "150.5", "amount", value="100", highValue="200")
    assert not check("BETWEEN", "250", "amount", value="100", highValue="200")
    assert check("GT", "1000", "hs_object_id", value=999)
    assert check("LTE", "1000", "hs_object_id", value="1000")
    assert check("IN", "42", "hs_object_id", values=["41", 42])


def test_datetimes_take_epoch_milliseconds_or_iso_text() -> None:
    stored = "2026-03-01T09:00:00.250Z"
    ms = int(datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=UTC).timestamp() * 1000)
    assert check("EQ", stored, "lastmodifieddate", value=str(ms))
    assert check("EQ", stored, "lastmodifieddate", value=ms)
    assert check("GT", stored, "lastmodifieddate", value="2026-03-01T09:00:00Z")
    assert check("LT", stored, "lastmodifieddate", value="2026-03-01T09:00:00.251+00:00")
    assert not check("GT", stored, "lastmodifieddate", value=ms)
    assert check("GTE", stored, "lastmodifieddate", value=ms)
    assert epoch_ms("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000


def test_dates_compare_by_their_utc_midnight_and_booleans_as_true_or_false() -> None:
    midnight = int(datetime(2026, 5, 4, tzinfo=UTC).timestamp() * 1000)
    assert check("EQ", "2026-05-04", "closedate", value=midnight)
    assert check("EQ", "2026-05-04", "closedate", value=midnight + 3_600_000)  # any time that day
    assert check("EQ", "true", "leadline_sms_opt_out", value="TRUE")
    assert check("NEQ", "false", "leadline_sms_opt_out", value=True)


def test_contains_token_matches_whole_tokens_with_wildcards() -> None:
    assert contains_token("ana.silva@example.com", "*@example.com")
    assert contains_token("ana.silva@example.com", "ana.silva@example.com")
    assert contains_token("Ana Maria Silva", "maria")
    assert contains_token("Ana Maria Silva", "ana silva")
    assert not contains_token("Ana Maria Silva", "mar")
    assert contains_token("Ana Maria Silva", "mar*")
    assert not contains_token(None, "*")
    assert check("NOT_CONTAINS_TOKEN", None, value="x")
    assert check("NOT_CONTAINS_TOKEN", "bob@example.org", value="*@example.com")


# --- the request -----------------------------------------------------------------------------------------------
def refused(body, **changes) -> SearchRefused:
    with pytest.raises(SearchRefused) as caught:
        parse_request(body, config(**changes), type_of)
    assert caught.value.status == 400
    assert caught.value.category == "VALIDATION_ERROR"
    return caught.value


def group(count: int) -> dict:
    return {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * count}


def test_limits_on_groups_filters_sorts_and_pages() -> None:
    assert "maximum number of filter groups is 5" in refused({"filterGroups": [group(1)] * 6}).message
    assert "maximum number of filters per group is 10" in refused({"filterGroups": [group(11)]}).message
    assert "maximum number of filters is 25" in refused({"filterGroups": [group(9)] * 3}).message
    assert "maximum number of sorts is 1" in refused({"sorts": ["email", "-createdate"]}).message
    assert parse_request({"sorts": ["email", "-createdate"]}, config(hs_search_sorts_max=2), type_of)
    refused({"limit": 201})
    refused({"after": "10000"})
    refused({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "BETWEEN", "value": 1}]}]})
    refused({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE", "value": 1}]}]})
    refused({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": "x"}]}]})
    request = parse_request(
        {"limit": 200, "after": "9999", "sorts": [{"propertyName": "x", "direction": "DESCENDING"}]}, config(), type_of
    )
    assert (request.limit, request.after, request.sort.name, request.sort.descending) == (200, 9999, "x", True)
    assert parse_request(None, config(), type_of).limit == 10


# --- running ---------------------------------------------------------------------------------------------------
def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def store() -> RecordStore:
    clock = Clock()
    clock.freeze(START)
    made = RecordStore(
        "contacts",
        new_id=IdSequence(1001).next,
        now=clock.now,
        stamp=stamp,
        parse=parse,
        modified_field="lastmodifieddate",
        created_field="createdate",
    )
    rng = random.Random(7)
    moments = [START + timedelta(seconds=rng.choice([0, 1, 1, 1, 2, 3])) for _ in range(600)]
    for number, moment in enumerate(moments):
        made.insert(
            {"email": f"p{number}@example.com" if number % 4 else "", "amount": str(number % 50)},
            at=moment,
            notify=False,
        )
    return made


def value_of(record: dict, name: str):
    return record["id"] if name == "hs_object_id" else record.get(name)


def ids(body: dict, store: RecordStore, *, pages: bool = False) -> tuple[int, list[str]]:
    target = Target(store, "lastmodifieddate", value_of)
    request = parse_request(body, config(hs_search_max_results=10_000), type_of)
    page = run(request, target)
    found = [record["id"] for record in page.records]
    while pages and page.next_after is not None:
        request.after = page.next_after
        page = run(request, target)
        found += [record["id"] for record in page.records]
    return page.total, found


def scan(store: RecordStore, keep, key=None, reverse: bool = False) -> list[str]:
    records = sorted(store.records.values(), key=lambda record: int(record["id"]))
    chosen = [record for record in records if keep(record)]
    if key is not None:
        chosen.sort(key=key, reverse=reverse)
    return [record["id"] for record in chosen]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_range_on_the_modified_time_pages_in_index_order(store: RecordStore) -> None:
    body = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ms(START)}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 37,
    }
    total, found = ids(body, store, pages=True)
    expected = scan(store, lambda r: parse(r["lastmodifieddate"]) > START, key=lambda r: parse(r["lastmodifieddate"]))
    assert found == expected
    assert total == len(expected)
    body["sorts"] = ["-lastmodifieddate"]
    _, newest_first = ids(body, store, pages=True)
    assert [parse(store.records[i]["lastmodifieddate"]) for i in newest_first] == sorted(
        (parse(store.records[i]["lastmodifieddate"]) for i in expected), reverse=True
    )
    assert sorted(newest_first) == sorted(expected)


def test_one_moment_bucket_by_id_reads_every_tied_record_once(store: RecordStore) -> None:
    moment = START + timedelta(seconds=1)
    tied = scan(store, lambda r: parse(r["lastmodifieddate"]) == moment)
    assert len(tied) > 200
    last, seen = "0", []
    while True:
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(ms(moment))},
                        {"propertyName": "hs_object_id", "operator": "GT", "value": last},
                    ]
                }
            ],
            "sorts": ["hs_object_id"],
            "limit": 100,
        }
        total, found = ids(body, store)
        assert total == len(tied) - len(seen)
        if not found:
            break
        seen += found
        last = found[-1]
    assert seen == tied


def test_slices_with_other_filters_agree_with_a_scan(store: RecordStore) -> None:
    low, high = START + timedelta(seconds=1), START + timedelta(seconds=2)
    filters = [
        {"propertyName": "lastmodifieddate", "operator": "BETWEEN", "value": stamp(low), "highValue": ms(high)},
        {"propertyName": "email", "operator": "HAS_PROPERTY"},
        {"propertyName": "amount", "operator": "LT", "value": "20"},
    ]
    total, found = ids({"filterGroups": [{"filters": filters}], "limit": 200, "sorts": ["-amount"]}, store, pages=True)

    def keep(r):
        return low <= parse(r["lastmodifieddate"]) <= high and r["email"] and int(r["amount"]) < 20

    assert found == scan(store, keep, key=lambda r: int(r["amount"]), reverse=True)
    assert total == len(found)


def test_groups_are_ored_and_no_filters_lists_everything_by_id(store: RecordStore) -> None:
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "amount", "operator": "EQ", "value": "3"}]},
            {"filters": [{"propertyName": "email", "operator": "NOT_HAS_PROPERTY"}]},
        ],
        "limit": 200,
    }
    total, found = ids(body, store, pages=True)
    assert found == scan(store, lambda r: r["amount"] == "3" or not r["email"])
    assert total == len(found)
    body["sorts"] = ["lastmodifieddate"]
    total, found = ids(body, store, pages=True)
    expected = scan(store, lambda r: r["amount"] == "3" or not r["email"], key=lambda r: parse(r["lastmodifieddate"]))
    assert found == expected
    assert total == len(expected)
    total, found = ids({"limit": 200}, store, pages=True)
    assert total == 600
    assert found == scan(store, lambda r: True)


def test_paging_stops_with_the_last_match_and_points_past_the_cap() -> None:
    clock = Clock()
    clock.freeze(START)
    many = RecordStore(
        "contacts",
        new_id=IdSequence(1).next,
        now=clock.now,
        stamp=stamp,
        parse=parse,
        modified_field="lastmodifieddate",
        created_field="createdate",
    )
    for _ in range(10_250):
        many.insert({}, notify=False)
    target = Target(many, "lastmodifieddate", value_of)
    request = parse_request({"limit": 200, "after": 9_900, "sorts": ["lastmodifieddate"]}, config(), type_of)
    request.groups = [[condition({"propertyName": "lastmodifieddate", "operator": "GTE", "value": 0}, type_of)]]
    page = run(request, target)
    assert page.total == 10_250
    assert len(page.records) == 100
    assert page.next_after == 10_000  # clipped at the cap
    with pytest.raises(SearchRefused):
        parse_request({"after": page.next_after}, config(), type_of)
    request.after, request.cap = 10_049, 20_000
    last = run(request, target)
    assert len(last.records) == 200
    assert last.next_after == 10_249
    request.after = 10_249
    assert run(request, target).next_after is None


def test_object_id_ranges_page_the_id_index_both_ways(store: RecordStore) -> None:
    middle = sorted(store.records, key=int)[250]
    body = {
        "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": middle}]}],
        "sorts": ["hs_object_id"],
        "limit": 64,
    }
    total, found = ids(body, store, pages=True)
    expected = scan(store, lambda r: int(r["id"]) > int(middle))
    assert found == expected
    assert total == len(expected)
    body["sorts"] = [{"propertyName": "hs_object_id", "direction": "DESCENDING"}]
    body["filterGroups"][0]["filters"].append({"propertyName": "amount", "operator": "GTE", "value": 25})
    total, found = ids(body, store, pages=True)
    expected = scan(store, lambda r: int(r["id"]) > int(middle) and int(r["amount"]) >= 25)[::-1]
    assert found == expected
    assert total == len(expected)
