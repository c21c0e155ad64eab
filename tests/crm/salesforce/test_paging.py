"""Delta pages against the emulator over real HTTP: thousands of records sharing one SystemModstamp across pages,
a query locator killed mid-page by a token refresh (restarted from the last kept record), records edited while a
locator pages, and a wide object split into several field lists by a lowered URI cap."""

from __future__ import annotations

import itertools

from crm.records import Cursor
from tests.crm.harness_salesforce import control
from tests.crm.salesforce.conftest import sandbox_config

LEAD = "lead"
LOCATOR_PATH = r"^/services/data/v[0-9.]+/query/."
QUERY_PATH = r"^/services/data/v[0-9.]+/query$"


def read_all(provider, *, page_size, cursor=None, limit=200):
    pages, cursor = [], cursor or Cursor.start()
    for _ in range(limit):
        page = provider.changed_since(object=LEAD, cursor=cursor, page_size=page_size)
        pages.append(page)
        cursor = Cursor.loads(page.cursor.dumps())
        if not page.has_more:
            return pages, cursor
    raise AssertionError(f"paging did not end after {limit} pages")


def query_calls(server) -> int:
    counters = control(server, "GET", "counters")
    return sum(count for name, count in counters.items() if "query" in name.lower())


def test_3000_records_sharing_one_systemmodstamp_page_without_loss_or_repeat(sf, provider, settings):
    settings.SALESFORCE_QUERY_BATCH_SIZE = 2000
    ids = sf.seed("Lead", 3000)
    moment = sf.update("Lead", ids, {"Rating": "Hot"})  # one bulk update: one SystemModstamp for all
    pages, _ = read_all(provider, page_size=2000)
    records = [record for page in pages for record in page.records]
    assert len(records) == len(ids)
    assert sorted(record.id for record in records) == sorted(ids)  # each once
    assert {record.modified_time for record in records} == {moment}
    assert [record.id for record in records] == sorted(record.id for record in records)  # ties in Id order
    assert len([page for page in pages if page.records]) >= 2  # the tie crosses page (and batch) boundaries
    for page, following in itertools.pairwise(pages):
        if page.records and following.records:
            assert page.records[-1].id < following.records[0].id


def test_a_locator_killed_by_a_refresh_mid_read_is_restarted_and_nothing_is_lost_or_doubled(
    sf, provider, empty_sandbox
):
    ids = sf.seed("Lead", 180)
    # Two long text fields make Salesforce answer in small batches (the emulator: 40 here), so reading 180 leads by
    # id goes through query locators; after two of them another process refreshes the token with rotation: every
    # session ends, and the locator with it.
    sandbox_config(empty_sandbox, sf_query_batch_size_long_text=40)
    rule = {"path": LOCATOR_PATH, "after": 2, "times": 1, "action": "sf_revoke_sessions"}
    control(empty_sandbox, "POST", "faults", rule)
    found = [record.id for record in provider.records(object=LEAD, record_ids=ids)]
    assert len(found) == len(set(found))  # nothing doubled
    assert sorted(found) == sorted(ids)  # nothing lost
    rules = control(empty_sandbox, "GET", "faults")
    rules = rules.get("rules", rules) if isinstance(rules, dict) else rules
    assert [rule["fired"] for rule in rules if rule.get("action") == "sf_revoke_sessions"] == [1]  # sessions ended


def test_a_page_ends_where_salesforce_answered_and_edits_meanwhile_are_read_by_the_keyset(sf, provider, empty_sandbox):
    ids = sf.seed("Lead", 150)
    sandbox_config(empty_sandbox, sf_query_batch_size_long_text=40)  # Salesforce answers 40 rows at a time
    # A person edits ten leads after the first page was read.
    rule = {"path": QUERY_PATH, "after": 1, "times": 1, "action": "sf_edit_records", "sobject": "Lead", "count": 10}
    control(empty_sandbox, "POST", "faults", rule)
    first = provider.changed_since(object=LEAD, cursor=Cursor.start(), page_size=200)
    assert len(first.records) == 40  # one answer: the locator behind it is never followed
    assert first.has_more
    pages, _ = read_all(provider, cursor=first.cursor, page_size=200)
    pages = [first, *pages]
    latest = {}
    for page in pages:
        positions = [(record.modified_time, record.id) for record in page.records]
        assert positions == sorted(positions)
        assert len(page.records) <= 40  # later pages ask for what Salesforce answers at once
        for record in page.records:
            latest[record.id] = record
    assert set(latest) == set(ids)
    for record in provider.records(object=LEAD, record_ids=ids):
        assert latest[record.id].modified_time == record.modified_time, record.id


def test_a_wide_object_is_read_in_several_field_lists_under_a_lowered_uri_cap(sf, sf_account, settings, sleeps):
    from crm.registry import provider_for

    ids = sf.seed("Lead", 30)
    whole = {
        record.id: record for page in read_all(provider_for(sf_account), page_size=200)[0] for record in page.records
    }
    settings.SALESFORCE_URI_MAX_BYTES = 1800  # a few dozen field names per query
    narrow = provider_for(sf_account, sleep=sleeps)
    plan = narrow._reader("Lead").plan()
    assert plan.rest  # the page's query could not carry every field
    pages, _ = read_all(narrow, page_size=12)
    split = {record.id: record for page in pages for record in page.records}
    assert sorted(split) == sorted(ids)
    for record_id, record in split.items():
        assert record.fields == whole[record_id].fields
        assert record.custom_fields == whole[record_id].custom_fields
        assert record.phones == whole[record_id].phones
        assert record.modified_time == whole[record_id].modified_time
    by_id = {record.id: record for record in narrow.records(object=LEAD, record_ids=ids)}
    assert {record_id: record.fields for record_id, record in by_id.items()} == {
        record_id: record.fields for record_id, record in whole.items()
    }


def test_a_record_edited_between_a_wide_pages_queries_keeps_its_older_stamp_and_is_read_again(
    sf, sf_account, settings, sleeps, empty_sandbox
):
    from crm.registry import provider_for

    ids = sf.seed("Lead", 20)
    settings.SALESFORCE_URI_MAX_BYTES = 1800
    narrow = provider_for(sf_account, sleep=sleeps)
    # Between the page's keyset query and the query of its other fields, a person edits five leads.
    rule = {"path": QUERY_PATH, "after": 1, "times": 1, "action": "sf_edit_records", "sobject": "Lead", "count": 5}
    control(empty_sandbox, "POST", "faults", rule)
    first = narrow.changed_since(object=LEAD, cursor=Cursor.start(), page_size=200)
    current = {record.id: record for record in narrow.records(object=LEAD, record_ids=ids)}
    moved = [record for record in first.records if record.modified_time < current[record.id].modified_time]
    assert moved  # merged with the older stamp (and partly newer values) ...
    again = narrow.changed_since(object=LEAD, cursor=first.cursor, page_size=200)
    assert {record.id for record in moved} <= {record.id for record in again.records}  # ... so read again whole
    for record in again.records:
        assert record.fields == current[record.id].fields
        assert record.modified_time == current[record.id].modified_time
