"""HubSpot's delta paging against the emulator over real HTTP (reads.py): 12,000 contacts sharing one
lastmodifieddate (HubSpot's own batch updates) each read once without a loop and no search paged past its cap; a cap
far smaller than the data (windows slid, nothing missed); people editing contacts while the pages are read (each
seen with its latest values); and the search index's lag, which the sync's overlap covers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from crm.records import Cursor
from tests.crm.harness_hubspot import control, sandbox_advance, sandbox_now
from tests.crm.hubspot.conftest import sandbox_config

LEAD = "lead"


def read_all(provider, *, cursor=None, page_size=200, limit=1000):
    """Every page from `cursor`, the cursor stored and loaded between pages as the sync's watermark is."""
    cursor = cursor or Cursor.start()
    pages = []
    for _ in range(limit):
        page = provider.changed_since(object=LEAD, cursor=cursor, page_size=page_size)
        pages.append(page)
        cursor = Cursor.loads(page.cursor.dumps())
        if not page.has_more:
            return pages, cursor
    raise AssertionError(f"paging did not end after {limit} pages")


def order_key(record):
    return (record.modified_time, int(record.id))


def searches(server, portal_id) -> int:
    counters = control(server, "GET", "counters")
    return sum(count for name, count in counters.items() if name.endswith("search_objects"))


@pytest.fixture
def fast_search(empty_sandbox, settings):
    """Search's five a second left to the client tests (test_limits.py): here it would only slow the pages."""
    sandbox_config(empty_sandbox, hs_search_requests_per_second=1000)
    settings.HUBSPOT_SEARCH_PER_SECOND = 1000


def test_twelve_thousand_contacts_at_one_timestamp_are_each_read_once(empty_sandbox, hs, provider, fast_search):
    moment = sandbox_now(empty_sandbox).replace(microsecond=0) + timedelta(seconds=5)
    hs.seed(150)
    hs.seed(12_000, same_modified=moment.isoformat())  # HubSpot's month-end batch update
    sandbox_advance(empty_sandbox, 10)
    hs.seed(50)
    before = searches(empty_sandbox, hs.portal_id)
    pages, cursor = read_all(provider, page_size=2000)  # the sync's page size: 200 a search
    records = [record for page in pages for record in page.records]
    ids = [record.id for record in records]
    assert len(ids) == 12_200
    assert len(set(ids)) == 12_200  # each once
    assert [order_key(record) for record in records] == sorted(order_key(record) for record in records)
    assert sum(1 for record in records if record.modified_time == moment) == 12_000
    assert len(pages) <= 12_200 // 200 + 3  # no loop: about one page a search
    assert searches(empty_sandbox, hs.portal_id) - before <= len(pages) + 3
    assert provider.changed_since(object=LEAD, cursor=cursor).records == ()


def test_a_search_cap_far_below_the_data_slides_the_windows_and_misses_nothing(
    empty_sandbox, hs, provider, fast_search
):
    sandbox_config(empty_sandbox, hs_search_max_results=50, hs_search_page_max=20)
    moment = sandbox_now(empty_sandbox).replace(microsecond=0) + timedelta(seconds=5)
    hs.seed(120)
    hs.seed(130, same_modified=moment.isoformat())
    pages, _ = read_all(provider, page_size=20)
    ids = [record.id for page in pages for record in page.records]
    assert sorted(ids, key=int) == hs.ids()
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_contacts_edited_while_pages_are_read_come_with_their_latest_values(
    empty_sandbox, hs, provider, fast_search, seed
):
    rng = random.Random(seed)
    hs.seed(400)
    edited_ids = rng.sample(hs.ids(), 60)
    for after in (1, 3, 5):  # people edit contacts between the searches of one read
        control(
            empty_sandbox,
            "POST",
            "faults",
            {"path": r"/contacts/search$", "after": after, "times": 1, "action": "hs_edit_records", "count": 20},
        )
    for start in range(0, 60, 20):
        hs.edit(
            "contacts", edited_ids[start : start + 20], {"jobtitle": f"Coach {start}"}, at=sandbox_now(empty_sandbox)
        )
    pages, _ = read_all(provider, page_size=rng.choice([25, 60, 200]))
    latest = {}
    for page in pages:
        for record in page.records:
            latest[record.id] = record
    assert sorted(latest, key=int) == hs.ids()
    assert any(str(record.raw.get("jobtitle")).startswith("edited while a sync paged") for record in latest.values())
    for record_id, record in latest.items():
        assert record.raw["jobtitle"] == hs.read("contacts", record_id)["properties"].get("jobtitle"), record_id
        assert record.modified_time == provider.record(object=LEAD, record_id=record_id).modified_time


def test_the_search_index_lag_is_covered_by_the_overlap(empty_sandbox, hs, provider, fast_search):
    sandbox_config(empty_sandbox, hs_search_index_lag_seconds=5)
    (first,) = hs.seed(1)
    sandbox_advance(empty_sandbox, 10)
    _, cursor = read_all(provider)
    late = hs.create("contacts", {"lastname": "Late", "phone": "+14155550161"})["id"]
    assert provider.changed_since(object=LEAD, cursor=cursor).records == ()  # not in the index yet
    sandbox_advance(empty_sandbox, 6)
    again = provider.changed_since(object=LEAD, cursor=cursor.overlapped(timedelta(seconds=60)))
    assert [record.id for record in again.records] == [first, late]  # the sync's overlap re-reads the window


def test_the_cursor_survives_storing_and_a_run_resumed_from_a_checkpoint(empty_sandbox, hs, provider, fast_search):
    moment = sandbox_now(empty_sandbox).replace(microsecond=0) + timedelta(seconds=5)
    ids = hs.seed(30, same_modified=moment.isoformat())
    page = provider.changed_since(object=LEAD, cursor=Cursor.start(), page_size=10)
    assert [record.id for record in page.records] == ids[:10]
    assert (page.cursor.modified_time, page.cursor.record_id) == (moment, ids[9])
    resumed = provider.changed_since(object=LEAD, cursor=Cursor(modified_time=moment.astimezone(UTC)), page_size=10)
    assert [record.id for record in resumed.records] == ids[:10]  # a checkpoint without an id reads the whole second
    assert isinstance(page.cursor.modified_time, datetime)


def test_at_hubspots_search_limit_the_pages_wait_for_their_turn(empty_sandbox, hs, provider, sleeps):
    """The emulator's five searches a second and the client's own pace (HUBSPOT_SEARCH_PER_SECOND): a first load of
    many pages waits between its searches instead of being refused."""
    ids = hs.seed(1_500)
    pages, _ = read_all(provider, page_size=200)
    assert sorted((record.id for page in pages for record in page.records), key=int) == ids
    assert len(pages) >= 8
    assert sum(sleeps.waits) >= (len(pages) - 5) / 5  # paced, not refused
