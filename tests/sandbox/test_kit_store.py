"""The kit's record store: sorted indexes, keyset walks that neither skip nor repeat records sharing a time,
string ids as well as numeric, change events and tombstones."""

from datetime import UTC, datetime, timedelta

import pytest

from sandbox.kit.clock import Clock
from sandbox.kit.store import IdSequence, RecordStore

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def make_store(clock: Clock, *, ids=None, id_key=int) -> RecordStore:
    return RecordStore(
        "lead",
        new_id=(ids or IdSequence(1000)).next,
        now=clock.now,
        stamp=lambda moment: moment.replace(microsecond=0).isoformat(),
        parse=datetime.fromisoformat,
        modified_field="modified",
        created_field="created",
        id_key=id_key,
    )


@pytest.fixture
def clock():
    clock = Clock()
    clock.freeze(START)
    return clock


def page_through(store, order, size, *, descending=False):
    """Every page by keyset (after the last key of the previous page), as a CRM client pages."""
    seen, after = [], None
    while True:
        with store.lock:
            page = []
            for key, record in store.walk(order, descending=descending, after=after):
                page.append((key, record["id"]))
                if len(page) == size:
                    break
        if not page:
            return seen
        seen.extend(record_id for _, record_id in page)
        after = page[-1][0]


def test_ids_come_from_the_sequence_and_times_from_the_clock(clock):
    store = make_store(clock)
    record = store.insert({"name": "Ana"})
    assert record == {"name": "Ana", "id": "1000", "created": START.isoformat(), "modified": START.isoformat()}
    assert store.insert({"id": "5", "name": "given id"})["id"] == "5"


def test_pages_walk_every_record_once_when_hundreds_share_a_second(clock):
    store = make_store(clock)
    for number in range(250):  # 250 records at one instant, ids 1000..1249: ties only the id can break
        store.insert({"number": number})
    clock.advance(1)
    for number in range(30):
        store.insert({"number": number})
    expected = sorted(store.records, key=int)
    assert page_through(store, "modified", 7) == expected
    assert page_through(store, "modified", 7, descending=True) == expected[::-1]
    assert page_through(store, "id", 200) == expected


def test_an_update_moves_the_record_to_the_end_of_the_modified_order(clock):
    store = make_store(clock)
    first, second = store.insert({"n": 1}), store.insert({"n": 2})
    clock.advance(60)
    store.update(first["id"], {"n": 10})
    assert [record["id"] for record in store.iter_by_modified()] == [second["id"], first["id"]]
    assert [record["id"] for record in store.iter_by_id()] == [first["id"], second["id"]]
    assert len(store.modified_index) == 2  # the old key left the index


def test_a_silent_update_keeps_the_modified_time_and_tells_no_one(clock):
    store = make_store(clock)
    events = []
    store.listeners.append(events.append)
    record = store.insert({"score": 1}, notify=False)
    clock.advance(60)
    store.update(record["id"], {"score": 2}, bump_modified=False)
    assert record["modified"] == START.isoformat()
    assert record["score"] == 2
    assert events == []


def test_since_is_inclusive_unless_strictly_after(clock):
    store = make_store(clock)
    early = store.insert({})
    clock.advance(10)
    tied = [store.insert({}), store.insert({})]
    clock.advance(10)
    late = store.insert({})
    moment = START + timedelta(seconds=10)
    assert [r["id"] for r in store.iter_by_modified(since=moment)] == [tied[0]["id"], tied[1]["id"], late["id"]]
    assert [r["id"] for r in store.iter_by_modified(since=moment, strictly_after=True)] == [late["id"]]
    assert early["id"] not in [r["id"] for r in store.iter_by_modified(since=moment)]


def test_created_order_is_kept_after_edits_and_follows_inserts(clock):
    store = make_store(clock)
    older = store.insert({"created": (START - timedelta(days=2)).isoformat()})
    newer = store.insert({})
    clock.advance(5)
    store.update(older["id"], {"x": 1})  # editing does not change the created order
    assert [record["id"] for _, record in store.walk("created")] == [older["id"], newer["id"]]
    latest = store.insert({})
    assert next(record["id"] for _, record in store.walk("created", descending=True)) == latest["id"]


def test_string_ids_sort_as_strings(clock):
    ids = iter(["001B", "001A", "001C"])
    store = make_store(clock, ids=type("Ids", (), {"next": lambda self: next(ids)})(), id_key=str)
    for _ in range(3):
        store.insert({})
    assert [record["id"] for record in store.iter_by_id()] == ["001A", "001B", "001C"]
    assert [record["id"] for record in store.iter_by_modified()] == ["001A", "001B", "001C"]
    assert [record["id"] for record in store.iter_by_id(after="001A")] == ["001B", "001C"]
    assert page_through(store, "modified", 2) == ["001A", "001B", "001C"]


def test_delete_leaves_a_tombstone_in_the_vendors_shape_and_an_event(clock):
    store = make_store(clock)
    events = []
    store.listeners.append(events.append)
    record = store.insert({"name": "Ana"})
    assert store.delete(record["id"], tombstone=lambda rec, when: {"Id": rec["id"], "deletedDate": when}) == record
    assert store.deleted == [{"Id": record["id"], "deletedDate": START.isoformat()}]
    assert [(event.kind, event.operation, event.ids) for event in events] == [
        ("lead", "insert", [record["id"]]),
        ("lead", "delete", [record["id"]]),
    ]
    assert store.delete(record["id"]) is None
    assert store.id_index == []
    assert store.modified_index == []


def test_events_name_the_fields_the_caller_set(clock):
    store = make_store(clock)
    events = []
    store.listeners.append(events.append)
    record = store.insert({"b": 1, "a": 2}, defaults={"owner": "u1"}, by_api=True, triggers=("workflow",))
    store.update(record["id"], {"c": 3}, stamped={"editor": "u2"})
    assert record["owner"] == "u1"
    assert record["editor"] == "u2"
    assert events[0].affected_fields == {record["id"]: ["a", "b"]}
    assert (events[0].by_api, events[0].triggers) == (True, ("workflow",))
    assert events[1].affected_fields == {record["id"]: ["c"]}


def test_rebuilt_indexes_match_indexes_kept_one_change_at_a_time(clock):
    store = make_store(clock)
    for number in range(20):
        clock.advance(number % 3)
        store.insert({"n": number})
    kept = (list(store.id_index), list(store.modified_index))
    store.rebuild_indexes()
    assert (store.id_index, store.modified_index) == kept


def test_an_unknown_order_is_refused(clock):
    with pytest.raises(ValueError, match="unknown order"):
        list(make_store(clock).walk("size"))
