"""Changes by modified time over the emulator (tables without change tracking, and changed_since on any): the
(modifiedon, id) keyset splits rows that share one second (a bulk edit) across pages without losing or repeating
one, a cursor stored between pages resumes exactly, rows edited while paging come again with their latest values,
the overlap re-reads, and a page answers at most 5,000 rows."""

from __future__ import annotations

from datetime import timedelta

from crm.records import Cursor

LEAD = "lead"


def read_all(provider, *, cursor=None, page_size=10, limit=100, object=LEAD):
    pages = []
    cursor = cursor or Cursor.start()
    for _ in range(limit):
        page = provider.changed_since(object=object, cursor=cursor, page_size=page_size)
        pages.append(page)
        cursor = Cursor.loads(page.cursor.dumps())
        if not page.has_more:
            return pages, cursor
    raise AssertionError("paging did not end")


def order(record):
    return (record.modified_time, record.id)


def test_rows_sharing_one_second_are_split_by_id(dv, provider):
    ids = dv.seed(LEAD, 30)
    moment = dv.advance(5).replace(microsecond=0)
    tied = ids[:23]
    for record_id in tied:
        dv.update(LEAD, record_id, {"description": "bulk"}, at=moment)
    pages, _ = read_all(provider, page_size=10)
    records = [record for page in pages for record in page.records]
    assert sorted(record.id for record in records) == sorted(ids)
    assert [order(record) for record in records] == sorted(order(record) for record in records)
    assert sorted(record.id for record in records if record.modified_time == moment) == sorted(tied)
    boundaries = [page.records[-1].modified_time for page in pages if page.records]
    assert boundaries.count(moment) >= 2  # pages end inside the tied rows


def test_a_stored_cursor_resumes_after_its_row(dv, provider):
    ids = dv.seed(LEAD, 9)
    first = provider.changed_since(object=LEAD, cursor=Cursor.start(), page_size=4)
    assert first.has_more
    stored = Cursor.loads(first.cursor.dumps())
    assert (stored.modified_time, stored.record_id) == (first.records[-1].modified_time, first.records[-1].id)
    rest, _ = read_all(provider, cursor=stored, page_size=4)
    later = [record.id for page in rest for record in page.records]
    assert sorted([record.id for record in first.records] + later) == sorted(ids)
    assert not set(later) & {record.id for record in first.records}


def test_nothing_new_then_an_edit_then_the_overlap(dv, provider):
    ids = dv.seed(LEAD, 4)
    _, cursor = read_all(provider)
    empty = provider.changed_since(object=LEAD, cursor=cursor)
    assert (empty.records, empty.has_more, empty.cursor) == ((), False, cursor)
    dv.advance(2)
    dv.update(LEAD, ids[2], {"lastname": "Edited"})
    page = provider.changed_since(object=LEAD, cursor=cursor)
    assert [record.id for record in page.records] == [ids[2]]
    assert page.records[0].raw["lastname"] == "Edited"
    again = provider.changed_since(object=LEAD, cursor=page.cursor.overlapped(timedelta(seconds=1)))
    assert [record.id for record in again.records] == [ids[2]]


def test_rows_edited_while_paging_come_again(dv, dv_server, provider):
    from tests.crm.harness_dynamics import leads_path
    from tests.crm.harness_hubspot import control

    ids = dv.seed(LEAD, 25)
    rule = {"path": leads_path(dv), "method": "GET", "after": 1, "action": "dv_edit_records", "count": 6}
    control(dv_server, "POST", "faults", rule)
    pages, _ = read_all(provider, page_size=10)
    latest = {}
    for page in pages:
        for record in page.records:
            latest[record.id] = record
    assert set(latest) == set(ids)
    edited = [record for record in latest.values() if record.raw.get("description") == "edited while a sync paged"]
    assert len(edited) == 6
    for record in latest.values():
        assert record.modified_time == provider.record(object=LEAD, record_id=record.id).modified_time


def test_a_table_without_change_tracking_pages_by_modified_time(dv, provider):
    lead_id = dv.seed(LEAD, 1)[0]
    for number in range(7):
        dv.create("task", {"subject": f"Call {number}", "regardingobjectid": lead_id, "regardingobjectid@table": LEAD})
    pages, _ = read_all(provider, object="task", page_size=3)
    assert len([record for page in pages for record in page.records]) == 7


def test_page_sizes_are_kept_within_dataverse_s_limit(dv, provider):
    ids = dv.seed(LEAD, 3)
    page = provider.changed_since(object=LEAD, cursor=Cursor.start(), page_size=50_000)
    assert sorted(record.id for record in page.records) == sorted(ids)
    assert not page.has_more
