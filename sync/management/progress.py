"""The progress bar of `manage.py sync backfill`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import OutputWrapper

from sync.backfill import TRACKED_LOAD, BackfillProgress


class ProgressBar:
    """A backfill's progress on stderr: records loaded (of the export's total once known), rate and ETA. Redrawn in
    place on a terminal; elsewhere (logs, CI) one line per export state while exporting and per tenth (per 10,000
    records while the total is unknown) while loading. A change-tracked object's load is one read of unknown size."""

    WIDTH = 24

    def __init__(self, stream: OutputWrapper, label: str, *, clock: Any = time.monotonic) -> None:
        self.stream, self.label, self.clock = stream, label, clock
        self.tty = stream.isatty()
        self.page, self.started, self.first_loaded, self.tenth = 0, 0.0, 0, -1
        self.last_text, self.drawn = "", False

    def update(self, progress: BackfillProgress) -> None:
        if progress.page != self.page:  # rate and ETA per page: a resumed page counts only what this run loads
            self.page, self.started, self.first_loaded, self.tenth = progress.page, self.clock(), 0, -1
            self.first_loaded = progress.rows_loaded
        prefix = f"{self.label} export {progress.page}"
        if progress.vendor_state == TRACKED_LOAD:  # a change-tracked object's full read: one read, no export
            prefix = f"{self.label} {TRACKED_LOAD}"
        if progress.phase == "exporting":
            self._show(f"{prefix}: the CRM is exporting ({progress.vendor_state})", step=progress.vendor_state)
            return
        total = progress.rows_total or 0
        loaded = progress.rows_loaded
        if not total:
            rate = (loaded - self.first_loaded) / max(self.clock() - self.started, 1e-6)
            text = f"{prefix}: {loaded:,} records {rate:,.0f} rows/s"
            self._show(text, step=loaded // 10_000 if progress.phase == "loading" else "done")
            return
        share = loaded / total if total else 1.0
        filled = round(share * self.WIDTH)
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = (loaded - self.first_loaded) / elapsed
        eta = f"ETA {(total - loaded) / rate:,.0f}s" if rate > 0 and loaded < total else ""
        text = (
            f"{prefix}: [{'#' * filled}{'.' * (self.WIDTH - filled)}] {loaded:,}/{total:,} {share:4.0%} "
            f"{rate:,.0f} rows/s {eta}"
        ).rstrip()
        tenth = min(int(share * 10), 10)
        self._show(text, step=tenth if progress.phase == "loading" else "done")

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("", ending="\n")

    def _show(self, text: str, *, step: Any) -> None:
        if self.tty:
            self.stream.write("\r" + text.ljust(len(self.last_text)), ending="")
            self.last_text, self.drawn = text, True
        elif step != self.tenth:
            self.stream.write(text)
            self.tenth = step
