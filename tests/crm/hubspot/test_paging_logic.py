"""The delta paging of reads.py against a small in-memory stand-in for HubSpot's search (one sort, ties in no
particular order, 10,000 results a query at most): huge one-timestamp batches read once, no query past the cap, edits
while paging seen with their latest values, and the cursor's meaning across pages. The same rules against the
emulator over HTTP: test_paging.py."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from crm.providers.hubspot.mapping import epoch_ms
from crm.providers.hubspot.reads import DONE, Reads
from crm.providers.hubspot.schema import schema_build
from crm.records import Cursor

MOD = "lastmodifieddate"
START = datetime(2026, 12, 1, tzinfo=UTC)


class FakeSearch:
    """HubSpot's search over `records` {id: modified ms}: AND filters on the modified time and hs_object_id, one
    sort, `limit` <= 200, `after` offsets refused past 10,000 results; ties come back in a shuffled order."""

    def __init__(self, seed: int = 3) -> None:
        self.records: dict[int, int] = {}
        self.calls: list[dict] = []
        self.random = random.Random(seed)
        self.before_each: list = []  # callables run before a search is answered (edits while paging)

    def stamp(self, ids, moment: datetime) -> None:
        for record_id in ids:
            self.records[int(record_id)] = epoch_ms(moment)

    def search(self, object_type, body):
        for action in list(self.before_each):
            action(self)
        self.calls.append(body)
        assert len(body["sorts"]) == 1
        assert body["limit"] <= 200
        offset = int(body.get("after") or 0)
        assert offset + body["limit"] <= 10_000, "paged past the search cap"
        (group,) = body["filterGroups"] or [{"filters": []}]
        rows = [
            (record_id, moment) for record_id, moment in self.records.items() if self._match(group, record_id, moment)
        ]
        self.random.shuffle(rows)
        sort = body["sorts"][0]["propertyName"]
        rows.sort(key=(lambda row: row[1]) if sort == MOD else (lambda row: row[0]))
        page = rows[offset : offset + body["limit"]]
        return {
            "total": len(rows),
            "results": [
                {"id": str(record_id), "properties": {MOD: str(moment), "hs_object_id": str(record_id)}}
                for record_id, moment in page
            ],
        }

    @staticmethod
    def _match(group, record_id, moment) -> bool:
        for spec in group["filters"]:
            value = moment if spec["propertyName"] == MOD else record_id
            wanted = int(spec["value"])
            ok = {
                "GT": value > wanted,
                "GTE": value >= wanted,
                "EQ": value == wanted,
                "LT": value < wanted,
            }[spec["operator"]]
            if not ok:
                return False
        return True

    def associations_read(self, *args, **kwargs):  # contacts' companies: none here
        return {}


def reads_over(fake: FakeSearch) -> Reads:
    schema = schema_build(object="lead", object_type="contacts", definitions=[{"name": MOD, "type": "datetime"}])
    return Reads(fake, schema, associations=False)


def read_all(reads: Reads, *, cursor: Cursor | None = None, page_size: int = 200, limit: int = 10_000):
    """Every page from `cursor`, the cursor kept as the provider keeps it (moment, id, DONE token)."""
    cursor = cursor or Cursor.start()
    seen = []
    for _ in range(limit):
        page = reads.changed_page(
            moment=cursor.modified_time,
            last_id=cursor.record_id,
            done=cursor.token == DONE and bool(cursor.record_id),
            page_size=page_size,
        )
        seen.extend(page.rows)
        if page.last is not None:
            cursor = Cursor(modified_time=page.last[0], record_id=page.last[1], token=DONE if page.done else "")
        if not page.has_more:
            return seen, cursor
    raise AssertionError("paging did not end")


def order(row):
    return (int(row["properties"][MOD]), int(row["id"]))


def test_twelve_thousand_records_at_one_timestamp_are_read_once_without_a_loop():
    fake = FakeSearch()
    fake.stamp(range(1, 101), START)
    fake.stamp(range(101, 12_101), START + timedelta(hours=1))  # HubSpot's month-end batch update
    fake.stamp(range(12_101, 12_151), START + timedelta(hours=2))
    rows, cursor = read_all(reads_over(fake))
    ids = [int(row["id"]) for row in rows]
    assert sorted(ids) == list(range(1, 12_151))
    assert len(ids) == len(set(ids))
    assert [order(row) for row in rows] == sorted(order(row) for row in rows)
    assert len(fake.calls) <= 12_150 // 200 + 6  # about one query a page
    assert all(int(body.get("after") or 0) == 0 for body in fake.calls)  # never paged by offset
    assert (cursor.modified_time, cursor.record_id) == (START + timedelta(hours=2), "12150")


def test_a_first_page_wholly_inside_one_timestamp_reads_the_bucket_by_id():
    fake = FakeSearch()
    fake.stamp(range(1, 501), START)
    reads = reads_over(fake)
    page = reads.changed_page(moment=None, last_id="", done=False, page_size=200)
    assert [row["id"] for row in page.rows] == [str(n) for n in range(1, 201)]
    assert (page.last, page.done, page.has_more) == ((START, "200"), False, True)
    bucket = fake.calls[-1]["filterGroups"][0]["filters"]
    assert bucket == [{"propertyName": MOD, "operator": "EQ", "value": str(epoch_ms(START))}]


def test_a_full_range_page_leaves_its_last_timestamp_to_the_bucket():
    fake = FakeSearch()
    fake.stamp(range(1, 6), START)
    fake.stamp(range(6, 9), START + timedelta(seconds=1))
    page = reads_over(fake).changed_page(moment=None, last_id="", done=False, page_size=6)
    assert [row["id"] for row in page.rows] == ["1", "2", "3", "4", "5"]  # 6..8 share the page's last timestamp
    assert (page.last, page.done, page.has_more) == ((START, "5"), True, True)


def test_a_cursor_inside_a_timestamp_goes_on_after_its_id_then_past_it():
    fake = FakeSearch()
    fake.stamp(range(1, 11), START)
    fake.stamp(range(11, 13), START + timedelta(seconds=5))
    reads = reads_over(fake)
    page = reads.changed_page(moment=START, last_id="4", done=False, page_size=200)
    assert [row["id"] for row in page.rows] == [str(n) for n in range(5, 13)]
    assert not page.has_more
    empty = reads.changed_page(moment=START + timedelta(seconds=5), last_id="12", done=True, page_size=200)
    assert (empty.rows, empty.last, empty.has_more) == ([], None, False)
    again = reads.changed_page(moment=START + timedelta(seconds=5), last_id="", done=False, page_size=200)
    assert [row["id"] for row in again.rows] == ["11", "12"]  # a cursor without an id includes its timestamp


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_records_edited_while_paging_are_all_seen_with_their_latest_values(seed):
    fake = FakeSearch(seed=seed)
    rng = random.Random(seed)
    total = 3_000
    for record_id in range(1, total + 1):
        fake.records[record_id] = epoch_ms(START) + rng.choice([0, 0, 0, 1000, 2000, 2000, 5000])
    clock = {"now": epoch_ms(START) + 60_000}

    def edit(search):
        if rng.random() < 0.5:
            clock["now"] += (
                1  # a later millisecond than anything read (an edit in the cursor's own one is the overlap's)
            )
            for record_id in rng.sample(range(1, total + 1), 15):
                search.records[record_id] = clock["now"]  # a batch of edits sharing one millisecond

    fake.before_each.append(edit)
    rows, _ = read_all(reads_over(fake), page_size=rng.choice([7, 50, 200]))
    fake.before_each.clear()
    latest = {}
    for row in rows:
        latest[int(row["id"])] = int(row["properties"][MOD])
    assert set(latest) == set(fake.records)
    assert latest == fake.records  # every record's last read is its latest version
