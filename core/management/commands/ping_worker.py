"""manage.py ping_worker: send a task through the broker and wait for a worker to answer it."""

import time
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeoutError

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.tasks import ping_task


class Command(BaseCommand):
    help = "Check that a Celery worker consumes tasks: enqueue a ping and wait for the answer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait (default 10).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CELERY_RESULT_BACKEND:
            raise CommandError("No result backend is configured (CELERY_RESULT_BACKEND), so no answer can come back.")
        started = time.monotonic()
        result = ping_task.apply_async()
        try:
            answer = result.get(timeout=options["timeout"])
        except CeleryTimeoutError as exc:
            raise CommandError(
                f"No worker answered within {options['timeout']:g} s (broker: {self.broker_name()}). "
                "Is `celery -A config worker` running?"
            ) from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        self.stdout.write(self.style.SUCCESS(f"{answer} from a worker in {elapsed_ms:.0f} ms ({self.broker_name()})"))

    @staticmethod
    def broker_name() -> str:
        url = str(settings.CELERY_BROKER_URL)
        return url.split("://", 1)[0] + "://" + (url.split("@")[-1].split("://")[-1] if "://" in url else "")
