"""Scheduler and worker liveness reported from outside them: heartbeats, /readyz/background, Sentry Crons."""

import time

import pytest

from django.conf import settings as django_settings
from django.core.cache import cache

from config import celery as celery_config
from core import health
from core.tasks import heartbeat_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def all_fresh(at=None):
    for name in health.heartbeat_components():
        health.heartbeat_record(name, at=at)


def test_every_queue_and_beat_is_expected():
    assert health.heartbeat_components() == ["beat", "worker:default", "worker:messaging", "worker:crm", "worker:sync"]


def test_beat_publishes_a_heartbeat_to_every_queue_that_expires_unrun():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    for queue in ("default", "messaging", "crm", "sync"):
        entry = schedule[f"heartbeat-{queue}"]
        assert entry["task"] == "core.tasks.heartbeat_task"
        assert entry["args"] == [queue]
        assert entry["options"]["queue"] == queue
        assert entry["options"]["expire_seconds"] == django_settings.HEARTBEAT_STALE_SECONDS
        assert entry["schedule"] == float(django_settings.HEARTBEAT_INTERVAL_SECONDS)
    assert django_settings.HEARTBEAT_STALE_SECONDS > django_settings.CELERY_TASK_TIME_LIMIT


def test_the_heartbeat_task_records_its_queue():
    heartbeat_task.run("sync")
    _fresh, report = health.heartbeats_report()
    assert report["worker:sync"]["ok"] is True
    assert report["worker:sync"]["age_seconds"] < 5


def test_all_fresh_is_200(client):
    all_fresh()
    response = client.get("/readyz/background")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["stale"] == []
    assert set(body["components"]) == set(health.heartbeat_components())


def test_a_stopped_worker_is_503_naming_the_queue_and_since_when(client, settings):
    all_fresh()
    long_ago = time.time() - settings.HEARTBEAT_STALE_SECONDS - 30
    health.heartbeat_record("worker:sync", at=long_ago)
    response = client.get("/readyz/background")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "stale"
    assert len(body["stale"]) == 1
    assert body["stale"][0].startswith("worker:sync since 20")
    assert body["components"]["worker:sync"]["ok"] is False
    assert body["components"]["worker:sync"]["age_seconds"] >= settings.HEARTBEAT_STALE_SECONDS
    assert body["components"]["beat"]["ok"] is True


def test_a_stopped_scheduler_is_503(client, settings):
    all_fresh()
    health.heartbeat_record("beat", at=time.time() - settings.HEARTBEAT_STALE_SECONDS - 1)
    response = client.get("/readyz/background")
    assert response.status_code == 503
    assert response.json()["stale"][0].startswith("beat since ")


def test_never_seen_is_stale_once_this_process_has_been_up_a_full_period(client, monkeypatch, settings):
    monkeypatch.setattr(health, "_PROCESS_STARTED", time.time())
    assert client.get("/readyz/background").status_code == 200  # just started: heartbeats are on their way
    monkeypatch.setattr(health, "_PROCESS_STARTED", time.time() - settings.HEARTBEAT_STALE_SECONDS - 1)
    response = client.get("/readyz/background")
    assert response.status_code == 503
    assert "beat never seen" in response.json()["stale"]


def test_readyz_for_the_load_balancer_is_not_taken_down_by_a_stopped_scheduler(client, settings):
    health.heartbeat_record("beat", at=time.time() - settings.HEARTBEAT_STALE_SECONDS - 1)
    assert client.get("/readyz").status_code == 200


def test_beat_records_its_own_heartbeat_as_it_publishes(monkeypatch):
    monkeypatch.setitem(celery_config._beat_heartbeat, "last", 0.0)
    monkeypatch.setitem(celery_config._beat_heartbeat, "in_beat", False)
    celery_config.beat_heartbeat_on_publish(headers={"task": "x"})  # an ordinary publish (web, worker)
    assert health.heartbeats_report()[1]["beat"]["last_seen"] is None
    celery_config.beat_heartbeat_on_publish(headers={"periodic_task_name": "sync-due"})
    assert health.heartbeats_report()[1]["beat"]["ok"] is True


def test_a_broken_cache_never_stops_beat_publishing(monkeypatch):
    monkeypatch.setitem(celery_config._beat_heartbeat, "last", 0.0)

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(health, "heartbeat_record", broken)
    celery_config.beat_heartbeat_on_publish(headers={"periodic_task_name": "sync-due"})  # no exception


def test_sentry_monitors_the_beat_schedule_when_configured():
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.transport import Transport

    from core.observability import init_sentry

    class NullTransport(Transport):
        def capture_envelope(self, envelope):
            pass

    init_sentry(
        dsn="https://public@sentry.example/1", environment="test", traces_sample_rate=0.0, transport=NullTransport
    )
    try:
        integration = sentry_sdk.get_client().get_integration(CeleryIntegration)
        assert integration is not None
        assert integration.monitor_beat_tasks is True
    finally:
        sentry_sdk.init()
