"""The webhook hot path publishes at most one dispatch task at a time; the dispatcher queues every recorded event
exactly once; nothing recorded is left behind."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from django.core.cache import cache
from django.utils import timezone

from core import tasks
from core import webhooks as core_webhooks
from core.models import InboundEvent

pytestmark = pytest.mark.django_db(transaction=True)  # the web path runs in autocommit, as the views do


@pytest.fixture
def published(monkeypatch):
    """Dispatch tasks the web published, and per-event tasks the dispatcher published."""
    cache.delete(core_webhooks.DISPATCH_KEY)
    seen = {"dispatch": 0, "events": []}
    monkeypatch.setattr(
        tasks.inbound_events_dispatch_task,
        "apply_async",
        lambda *a, **k: seen.__setitem__("dispatch", seen["dispatch"] + 1),
    )
    monkeypatch.setattr(
        core_webhooks, "inbound_event_publish", lambda event_id, countdown=None: seen["events"].append(event_id)
    )
    yield seen
    cache.delete(core_webhooks.DISPATCH_KEY)


def record(n: int, start: int = 0) -> list[int]:
    return [
        core_webhooks.webhook_record(source="test.burst", key=f"k{i}", payload={"i": i})[0].pk
        for i in range(start, start + n)
    ]


def test_a_burst_of_webhooks_publishes_one_dispatch(published):
    record(50)
    assert published["dispatch"] == 1


def test_the_dispatcher_queues_each_event_once(published):
    ids = record(30)
    assert core_webhooks.inbound_events_dispatch() == 30
    assert published["events"] == ids
    assert set(InboundEvent.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}
    assert core_webhooks.inbound_events_dispatch() == 0  # a second dispatcher finds nothing to claim


def test_an_event_recorded_after_a_dispatch_started_schedules_another(published):
    record(3)
    core_webhooks.inbound_events_dispatch()
    record(1, start=3)
    assert published["dispatch"] == 2


def test_a_lost_dispatch_is_covered_by_the_sweep(published):
    ids = record(2)  # the dispatch task never runs
    later = timezone.now() + timedelta(minutes=5)
    assert core_webhooks.inbound_events_sweep(now=later) == 2
    assert published["events"] == ids


def test_a_queued_event_whose_task_was_lost_is_swept_too(published):
    ids = record(1)
    core_webhooks.inbound_events_dispatch()
    published["events"].clear()
    assert core_webhooks.inbound_events_sweep(now=timezone.now() + timedelta(minutes=5)) == 1
    assert published["events"] == ids


# --- one check of the key per window and process --------------------------------------------------------------
@pytest.fixture
def window(settings, monkeypatch):
    """A 0.2 s coalescing window, starting closed, with a fresh end-of-window thread."""
    settings.WEBHOOK_DISPATCH_COALESCE_SECONDS = 0.2
    monkeypatch.setattr(core_webhooks._Coalescing, "until", 0.0)
    monkeypatch.setattr(core_webhooks._Coalescing, "pending", False)
    monkeypatch.setattr(core_webhooks._Coalescing, "wake", threading.Event())
    monkeypatch.setattr(core_webhooks._Coalescing, "thread_pid", 0)
    checks = []
    real = core_webhooks._dispatch_ensure
    monkeypatch.setattr(core_webhooks, "_dispatch_ensure", lambda event_id: (checks.append(event_id), real(event_id)))
    yield checks
    # Let a pending end-of-window check finish while the fakes are still in place; the thread then waits for good.
    wait_for(lambda: not core_webhooks._Coalescing.pending)
    time.sleep(0.05)


def wait_for(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_burst_asks_the_cache_once_then_once_at_the_windows_end(published, window):
    record(20)
    assert len(window) == 1  # the first webhook's check; the other 19 wait for the window's end
    assert wait_for(lambda: len(window) == 2)
    time.sleep(0.3)
    assert len(window) == 2  # a window without webhooks schedules nothing
    assert published["dispatch"] == 1  # the key was still set: the first dispatch covers them all


def test_a_dispatch_that_finished_inside_the_window_is_followed_by_another(published, window):
    """The race the end-of-window check exists for: the dispatcher runs (claims, deletes the key, looks once more)
    between the window's first check and a later webhook's commit. That webhook's event is picked up by the next
    dispatch, which the window's end publishes because the key is gone."""
    record(1)
    core_webhooks.inbound_events_dispatch()  # claims the first event and deletes the key
    (late,) = record(1, start=1)  # inside the window: no check now
    assert published["dispatch"] == 1
    assert wait_for(lambda: published["dispatch"] == 2)
    assert core_webhooks.inbound_events_dispatch() == 1
    assert published["events"][-1] == late


def test_a_webhook_after_the_window_checks_at_once(published, window, settings):
    settings.WEBHOOK_DISPATCH_COALESCE_SECONDS = 0.05
    record(1)
    time.sleep(0.3)
    record(1, start=1)
    assert len(window) == 2


def test_an_exiting_process_runs_its_pending_check(published, window):
    record(2)
    assert core_webhooks._Coalescing.pending
    core_webhooks._window_flush()
    assert len(window) == 2
    assert not core_webhooks._Coalescing.pending
