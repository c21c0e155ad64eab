"""A real worker and a real scheduler run on both brokers: Redis when configured, files when not."""

import pytest

from tests.processes import BIN_DIR, clean_env, manage, start, stop, wait_for_text

pytestmark = pytest.mark.slow

WORKER = (
    "-A",
    "config",
    "worker",
    "-P",
    "solo",
    "-Q",
    "default,messaging,crm,sync,zoho",
    "--loglevel",
    "info",
    "--without-gossip",
    "--without-mingle",
)


def embedded_env(tmp_path):
    return clean_env(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "celery"),
    )


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_a_worker_answers_a_task_sent_through_the_broker(tmp_path, broker):
    env = embedded_env(tmp_path)
    if broker == "redis":
        env["REDIS_URL"] = "redis://127.0.0.1:6379/8"
    log = tmp_path / "worker.log"
    worker = start(str(BIN_DIR / "celery"), *WORKER, env=env, log=log)
    try:
        assert wait_for_text(log, "ready.", timeout=40), log.read_text()
        result = manage("ping_worker", "--timeout", "20", env=env)
        assert result.returncode == 0, result.stderr + log.read_text()
        assert "pong from a worker" in result.stdout
        assert ("filesystem://" if broker == "filesystem" else "redis://127.0.0.1:6379/8") in result.stdout
    finally:
        stop(worker)
    worker_log = log.read_text()
    assert '"task_id"' in worker_log  # structlog JSON lines carry the task id


def test_ping_worker_fails_clearly_when_no_worker_runs(tmp_path):
    result = manage("ping_worker", "--timeout", "1", env=embedded_env(tmp_path))
    assert result.returncode != 0
    assert "No worker answered within 1 s" in result.stderr


def test_the_scheduler_drives_the_worker_on_the_embedded_default(tmp_path):
    """beat (DatabaseScheduler on SQLite) enqueues through the filesystem broker; the worker runs the task."""
    env = embedded_env(tmp_path)
    migrated = manage("migrate", "--noinput", env=env, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    schedule = (
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask;"
        "every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS);"
        "PeriodicTask.objects.create(name='ping', task='core.tasks.ping_task', interval=every)"
    )
    created = manage("shell", "--no-imports", "-c", schedule, env=env)
    assert created.returncode == 0, created.stderr
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    worker = start(str(BIN_DIR / "celery"), *WORKER, env=env, log=worker_log)
    beat = start(str(BIN_DIR / "celery"), "-A", "config", "beat", "--loglevel", "info", env=env, log=beat_log)
    try:
        assert wait_for_text(beat_log, "Scheduler: Sending due task ping", timeout=40), beat_log.read_text()
        assert wait_for_text(worker_log, "core.tasks.ping_task", timeout=30), worker_log.read_text()
        assert wait_for_text(worker_log, "succeeded", timeout=30), worker_log.read_text()
    finally:
        stop(beat)
        stop(worker)
