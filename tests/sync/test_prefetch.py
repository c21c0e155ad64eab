"""The delta run reads the next page in a background thread while it writes the current one (sync/prefetch.py)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from crm.providers.zoho.client import ZohoClient
from sync import delta
from sync.models import CrmRecord, SyncRun, SyncState
from sync.prefetch import Prefetcher
from tests.crm.zoho.conftest import control
from tests.sync.conftest import seed, store


def in_order(server):
    return sorted(store(server).values(), key=lambda r: (datetime.fromisoformat(r["Modified_Time"]), r["id"]))


def prefetch_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("sync-prefetch")]


def test_a_failure_fetching_page_n_plus_1_leaves_the_watermark_at_the_end_of_page_n(
    organization, account, empty_sandbox, settings
):
    settings.SYNC_COQL_PAGE_SIZE = settings.SYNC_BATCH_SIZE = 50
    seed(empty_sandbox, 200)
    records = in_order(empty_sandbox)
    # Every COQL call after the first fails (500, past the retries): page 2 is fetched while page 1 is written.
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 500, "times": 0, "after": 1})

    run = delta.sync_run(organization=organization, object="lead")

    assert run.status == SyncRun.Status.FAILED
    assert "500" in run.error or "Zoho" in run.error, run.error
    end_of_page_1 = records[49]
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.watermark == datetime.fromisoformat(end_of_page_1["Modified_Time"]).astimezone(UTC)
    assert state.checkpoint_id == end_of_page_1["id"]
    assert state.locked_by_id is None
    mirrored = set(CrmRecord.objects.for_organization(organization).values_list("external_id", flat=True))
    assert mirrored == {record["id"] for record in records[:50]}
    assert SyncRun.objects.for_organization(organization).get(pk=run.pk).inserted == 50
    assert not prefetch_threads()

    control(empty_sandbox, "DELETE", "faults")
    resumed = delta.sync_run(organization=organization, object="lead")
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed
    assert CrmRecord.objects.for_organization(organization).count() == 200


def test_pages_are_written_in_order_by_this_thread_while_the_next_is_read_by_another(
    organization, account, empty_sandbox, settings, monkeypatch
):
    settings.SYNC_COQL_PAGE_SIZE = settings.SYNC_BATCH_SIZE = 40
    seed(empty_sandbox, 400)
    records = in_order(empty_sandbox)
    written: list[list[str]] = []
    writers: set[str] = set()
    watermarks = []
    original = delta.crm_records_upsert

    def upsert(**kwargs):
        writers.add(threading.current_thread().name)
        written.append([record.id for record in kwargs["records"]])
        time.sleep(0.02)  # a slow write: the reader runs ahead, as far as its queue of one lets it
        result = original(**kwargs)
        state = SyncState.objects.for_organization(organization).filter(object="lead").first()
        watermarks.append(state.watermark if state else None)
        return result

    readers: list[str] = []
    coql = ZohoClient.coql

    def coql_read(self, **kwargs):
        readers.append(threading.current_thread().name)
        return coql(self, **kwargs)

    monkeypatch.setattr(delta, "crm_records_upsert", upsert)
    monkeypatch.setattr(ZohoClient, "coql", coql_read)
    run = delta.sync_run(organization=organization, object="lead")

    assert run.status == SyncRun.Status.OK, run.error
    assert writers == {threading.current_thread().name}
    assert len(readers) == 10  # one call per page (the last says no more records)
    assert set(readers) == {f"sync-prefetch-{run.pk}"}  # every page read by the other thread
    assert len(written) == 10
    assert [zoho_id for batch in written for zoho_id in batch] == [record["id"] for record in records]
    moved = [moment for moment in watermarks[1:] if moment is not None]
    assert moved == sorted(moved)  # each batch's watermark is the one before's, never a page read ahead
    assert not prefetch_threads()


def test_an_error_leaving_the_loop_stops_the_reader_after_at_most_the_call_in_flight():
    produced = []

    def source():
        for number in range(1_000):
            produced.append(number)
            yield number

    def run_until_the_lock_is_lost():
        with Prefetcher(source(), name="sync-prefetch-test") as pages:
            assert next(pages) == 0
            time.sleep(0.05)  # the reader fills its queue and waits
            raise RuntimeError("lock lost")

    with pytest.raises(RuntimeError):
        run_until_the_lock_is_lost()
    assert not prefetch_threads()
    assert len(produced) <= 3  # the item taken, the one queued, the one the thread was offering: no more read


def test_an_error_in_the_reader_is_raised_at_the_next_item_after_those_read_before_it():
    def source():
        yield 1
        yield 2
        raise ConnectionError("page 3 failed")

    pages = Prefetcher(source(), name="sync-prefetch-test")
    assert next(pages) == 1
    assert next(pages) == 2
    with pytest.raises(ConnectionError, match="page 3 failed"):
        next(pages)
    with pytest.raises(StopIteration):
        next(pages)
    pages.close()
    assert not prefetch_threads()
