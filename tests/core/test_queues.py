"""Every queue a task can be routed to has a worker in each process file, and so has every retired queue, so a message
published before a deploy that renamed its queue is still run after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def consumed_queues(path: Path) -> set[str]:
    (line,) = [line for line in path.read_text().splitlines() if "celery -A config worker" in line]
    return set(re.search(r"-Q (\S+)", line).group(1).split(","))


@pytest.mark.parametrize("process_file", ["Procfile", "Procfile.dev", "Makefile"])
def test_every_worker_consumes_every_live_and_retired_queue(process_file):
    expected = set(settings.CELERY_TASK_QUEUES_ALL) | set(settings.CELERY_TASK_QUEUES_RETIRED)
    assert consumed_queues(ROOT / process_file) == expected


def test_routes_lead_to_live_queues_only():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= set(settings.CELERY_TASK_QUEUES_ALL)
    assert not routed & set(settings.CELERY_TASK_QUEUES_RETIRED)
    assert settings.CELERY_TASK_DEFAULT_QUEUE in settings.CELERY_TASK_QUEUES_ALL


def test_every_route_matches_a_task_or_a_package_that_can_hold_one():
    """A route whose pattern matches nothing (the old `zoho.*`: Zoho's tasks are named after their modules) is dead."""
    from config.celery import app

    app.loader.import_default_modules()
    names = [name for name in app.tasks if not name.startswith("celery.")]
    for pattern in settings.CELERY_TASK_ROUTES:
        prefix = pattern.removesuffix("*")
        assert any(name.startswith(prefix) for name in names) or (ROOT / prefix.rstrip(".")).is_dir(), pattern
