"""The webhook hot path publishes at most one dispatch task at a time; the dispatcher queues every recorded event
exactly once; nothing recorded is left behind."""

from __future__ import annotations

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
