"""What a benchmark's child process measures about itself: peak and current memory, and time per named part."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any


def status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the forked
    copy of the parent, so a child of a parent holding the sandbox would report the parent's size."""
    return status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    return status_mb("VmRSS")


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"crm": 0.0, "source": 0.0, "mapping": 0.0, "upsert": 0.0, "wait": 0.0}

    def wrap(self, name: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed
