"""gunicorn server hooks (`--config python:config.gunicorn` in the Procfile); the flags stay on the Procfile line."""

from __future__ import annotations

import gc
from typing import Any


def when_ready(server: Any) -> None:
    """In the master, once the app is loaded (--preload) and before any worker forks: load the URLconf (every
    view module) and freeze the heap, so the workers inherit it and their garbage collector never walks it.

    Django and the app are some 120,000 objects that live as long as the process. Unfrozen, each full
    collection in a worker walks all of them (milliseconds, at random requests: the latency tail); frozen, a
    collection walks only what requests allocated. Workers also share the frozen pages instead of copying them."""
    if not server.cfg.preload_app:
        return
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module here rather than in each worker
    gc.collect()
    gc.freeze()
