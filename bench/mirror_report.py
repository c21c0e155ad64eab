"""What the mirror benchmarks (bench/sync_mirror.py and its per-CRM runs, bench/sync_mirror_<crm>.py) share: the
child process's timed reads and writes, running it, and the report's common parts (the machine, ratios to the
ceilings, the verdicts, the peak-RSS table). Imports Django's code only inside functions: the caller's module sets
the environment (bench/sync_mirror.py) before Django is set up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import Timer

OBJECT = "lead"


class Report:
    """The report's lines: printed as they come, written to the results file at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, path: Path) -> None:
        path.write_text("\n".join(self.lines) + "\n")
        print(f"written to {path}")


# --- the child process ------------------------------------------------------------------------------------------
def run_worker(module: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m <module> --worker <job>` and return the JSON its last line prints."""
    output = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", module, "--worker", json.dumps(job)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def read_all(provider: Any, *, page_size: int) -> tuple[int, int]:
    """Every delta page of the lead object read through the provider (and mapped), nothing written: (rows, pages)."""
    from crm.records import Cursor

    cursor, rows, pages = Cursor.start(), 0, 0
    while True:
        page = provider.changed_since(object=OBJECT, cursor=cursor, page_size=page_size)
        rows += len(page.records)
        pages += 1
        if not page.has_more:
            return rows, pages
        cursor = page.cursor


def time_the_writes(timer: Timer, *, backfill: bool = False) -> None:
    """Time the sync's upserts, and how long the writing thread waits for the next batch (reads and mapping not
    hidden behind the writes), in place: on the delta path and on the change-tracking one (sync/tracked.py holds its
    own references)."""
    from sync import delta, tracked
    from sync.prefetch import Prefetcher

    class TimedPrefetcher(Prefetcher):
        def __next__(self) -> Any:
            started = time.perf_counter()
            try:
                return super().__next__()
            finally:
                timer.seconds["wait"] += time.perf_counter() - started

    delta.Prefetcher = tracked.Prefetcher = TimedPrefetcher
    delta.crm_records_upsert = timer.wrap("upsert", delta.crm_records_upsert)
    tracked.crm_records_upsert = timer.wrap("upsert", tracked.crm_records_upsert)
    if backfill:
        from sync import backfill as bulk

        bulk.crm_records_upsert = timer.wrap("upsert", bulk.crm_records_upsert)


# --- the parent -------------------------------------------------------------------------------------------------
def forget_watermark(organization_id: int) -> None:
    """The next run reads every lead again (nothing changed: nothing is written, each row only locked)."""
    from sync.models import SyncState

    SyncState.objects.unscoped().filter(organization_id=organization_id, object=OBJECT).update(watermark=None)


def machine(out: Report, admin_dsn: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn) as conn:
        load = os.getloadavg()[0]
        server_version = conn.info.server_version
    out(
        f"machine: {os.cpu_count()} cores, load average at the end {load:.2f} (the machine may be shared), "
        f"PostgreSQL {server_version // 10000}"
    )


def ceilings_named(out: Report, row_bytes: float) -> None:
    """The size of a mapped row, and what the ceilings are (a per-CRM run's report)."""
    out(f"mapped row: {row_bytes:,.0f} bytes as COPY text")
    out(
        "ceilings (bench/sync_mirror.py's): the same mapped rows COPY'd into a temp table + one INSERT ... SELECT ... "
        "ON CONFLICT DO UPDATE WHERE into: today = sync_crmrecord; physical = a copy with only its unique key; "
        "gin = that copy with two jsonb_ops GIN indexes"
    )


def ratios(phase: dict[str, Any], rows: int) -> dict[str, float]:
    """A phase's records/s, the ceilings' in the same run (today, physical, gin), and ours over the physical one:
    end to end (e2e) and our code's (N / (map + upsert))."""
    rate = rows / phase["seconds"]
    today, physical, gin = (rows / phase[f"ceiling_{key}"] for key in ("today", "physical", "gin"))
    code_rate = rows / (phase["mapping"] + phase["upsert"])
    return {
        "rate": rate,
        "today": today,
        "physical": physical,
        "gin": gin,
        "e2e": rate / physical,
        "e2e_today": rate / today,
        "code": code_rate / physical,
    }


def verdicts(out: Report, results: list[tuple[str, float, float]], target: float) -> None:
    for name, e2e_ratio, code_ratio in results:
        out(
            f"target >= {target:.0%} of the physical ceiling, {name}: end to end {e2e_ratio:.0%} "
            f"({'met' if e2e_ratio >= target else 'NOT met'}), our code {code_ratio:.0%} "
            f"({'met' if code_ratio >= target else 'NOT met'})"
        )


def rss_table(out: Report, sized: list[tuple[int, dict[str, Any]]]) -> None:
    """Peak RSS of the runs of each size (records, the run's result)."""
    out(f"{'records':>10} {'seconds':>8} {'rec/s':>7} {'RSS at start MB':>16} {'peak RSS MB':>12}")
    for size, result in sized:
        out(
            f"{size:>10,} {result['seconds']:>8.1f} {size / result['seconds']:>7,.0f} {result['rss_start_mb']:>16.0f} "
            f"{result['rss_peak_mb']:>12.0f}"
        )


def rss_flat(out: Report, peaks: list[float], target_mb: float) -> None:
    """Whether the peak stays flat (within 10 %) across sizes and under the target."""
    if len(peaks) > 1:
        growth = max(peaks) - min(peaks)
        flat = growth < 0.1 * min(peaks) and max(peaks) < target_mb
        out(
            f"target peak RSS flat and < {target_mb} MB: {'MET' if flat else 'NOT met'} "
            f"(peaks {', '.join(f'{peak:.0f}' for peak in peaks)} MB; growth {growth:.0f} MB)"
        )


def organization_with_crm(slug: str, *, kind: str, brand: str, **account: Any) -> int:
    """An organization whose default CRM connection is the emulator's (`account`: its app and ready refresh token,
    its hosts); an operator pointed the account at the emulator."""
    from studios.models import Organization, ProviderAccount

    organization = Organization.objects.create(slug=slug, name=f"{slug.title()} {brand}")
    ProviderAccount.unscoped_objects.create(
        organization=organization, name=f"{slug}-{kind}", kind=kind, is_default=True, custom_endpoints=True, **account
    )
    return organization.pk
