"""Benchmark: mirror N Dynamics 365 leads from the emulator end to end, beside the physical ceiling (issue 17).

Cold (the first load: Dataverse's change tracking read from no token, pages of 5,000), then through the delta link
after 10% of the leads changed, beside the physical ceiling measured in the same run (bench/sync_mirror.py's
ceilings, as the other per-CRM runs do), plus the Web API calls each run took and what service protection allows.

    python -m bench.sync_mirror --crm dynamics [--records 100000]
    python -m bench.sync_mirror_dynamics [--records 100000] [--memory-records 10000,100000]

The emulator (`sandbox/dynamics/`, in a thread of the parent process; Entra ID on its HTTPS listener) holds one
environment with N leads (names, e-mails, phones in the formats people type, lead sources, owners, addresses,
custom `lh_` columns). Each run is a child process (`--worker`) so its peak RSS is the sync's alone, driving the
product's own code with the provider `provider_for` gives for the organization's connection:

- serve: the emulator alone, every change-tracking page fetched through the provider and mapped, nothing written;
- cold: `sync_run` from no token (every lead read by change tracking and inserted; the delta link kept);
- delta: 10% of the leads edited in the emulator, then `sync_run` through the delta link (only those are read);
- quiet: `sync_run` again with nothing changed (one delta-link call, nothing written);
- expired: 1% of the leads deleted and every delta token expired (an environment past its retention), then
  `sync_run`: the full read and the id reconciliation the expiry starts (nothing lost, nothing doubled).

Uses BENCH_SYNC_DATABASE (default leadline_bench_sync), dropped and re-created, and its database cache (no Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import django

from bench import mirror_report as report
from bench import sync_mirror as base  # sets the environment (database, settings) before Django is imported
from bench.dynamics_environment import EmulatedEnvironment, organization_create
from bench.measure import Timer, current_rss_mb, rss_mb

RESULTS = Path(__file__).parent / "results" / "sync_mirror_dynamics.txt"
OBJECT = base.OBJECT  # "lead": the lead table
CHANGED_SHARE = 0.10
DELETED_SHARE = 0.01
UNLIMITED = 10_000_000  # the emulator's service protection in the measuring runs
REQUESTS_PER_WINDOW, WINDOW_SECONDS = 6000, 300  # service protection per user (docs/vendors/dynamics.md)


# --- the child process: one run, timed ------------------------------------------------------------------------
class Calls:
    """Every Web API call the provider made (not the token endpoint), timed and counted."""

    def __init__(self, timer: Timer) -> None:
        self.timer, self.count = timer, 0
        self.lock = threading.Lock()

    def install(self) -> None:
        from crm.providers.dynamics import transport

        session = transport.http_session("dynamics")
        request = session.request

        def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.count += 1
            return request(method, url, *args, **kwargs)

        session.request = self.timer.wrap("crm", counted)  # type: ignore[method-assign]


def _instrument(timer: Timer) -> Calls:
    """Time the calls and the mapping to CanonicalRecords, in place (modules holding their own reference too)."""
    from crm.providers.dynamics import mapping, provider, reads

    calls = Calls(timer)
    calls.install()
    original = mapping.record_map
    for module in (mapping, provider, reads):
        if getattr(module, "record_map", None) is original:
            module.record_map = timer.wrap("mapping", original)
    return calls


def read_all(provider: Any) -> tuple[int, int]:
    """Every change-tracking page of the lead table from no token (mapped), nothing written: (rows, pages)."""
    token, rows, pages = "", 0, 0
    while True:
        page = provider.tracked_changes(object=OBJECT, token=token, page_size=5000)
        rows += len(page.records)
        pages += 1
        token = page.token
        if not page.has_more:
            return rows, pages


def worker(job: dict[str, Any]) -> None:
    os.environ["DYNAMICS_LOGIN_URL"] = job["login_url"]
    os.environ["DYNAMICS_CA_BUNDLE"] = job["ca_path"]
    django.setup()
    from crm.connections import crm_connection_get
    from crm.records import Priority
    from crm.registry import provider_for
    from studios.models import Organization
    from sync import delta
    from sync.models import SyncRun

    timer = Timer()
    organization = Organization.objects.unscoped().get(pk=job["organization_id"])
    provider: Any = provider_for(crm_connection_get(organization=organization), priority=Priority.BACKGROUND)
    calls = _instrument(timer)
    started = time.perf_counter()
    if job["mode"] == "serve":
        rows, pages = read_all(provider)
        result: dict[str, Any] = {"rows": rows, "pages": pages}
        result["fields"] = len(provider.object_spec(object=OBJECT).fields)
    else:
        report.time_the_writes(timer)
        before = current_rss_mb()
        run = delta.sync_run(organization=organization, object=OBJECT, provider=provider)
        if run.status != SyncRun.Status.OK:
            raise SystemExit(f"sync run failed: {run.error}")
        result = {
            "inserted": run.inserted,
            "updated": run.updated,
            "deleted": run.deleted,
            "note": run.error,
            "rss_start_mb": before,
            "rss_peak_mb": rss_mb(),
        }
    result.update(seconds=time.perf_counter() - started, calls=calls.count, **timer.seconds)
    print(json.dumps(result, default=str), flush=True)


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    return report.run_worker("bench.sync_mirror_dynamics", job)


# --- the parent: the emulated environment, organizations, ceilings ----------------------------------------------
def limits(state: Any, *, real: bool) -> None:
    """Service protection: Dataverse's (sandbox/config.py's defaults) or raised for the measuring runs."""
    from sandbox.config import SandboxConfig

    defaults = SandboxConfig()
    for knob in ("dv_requests_per_window", "dv_execution_ms_per_window"):
        setattr(state.config, knob, getattr(defaults, knob) if real else UNLIMITED)


def changed_ceilings(phase: dict[str, Any], *, organization_id: int, path: Path, run: Any, since: Any) -> int:
    """The ceilings for the rows a delta run wrote: the mirror rows modified at or after `since`, dumped and
    written into each ceiling table (which hold the cold rows): the seconds go into `phase` as ceiling_<table>."""
    import psycopg

    query = (
        f"COPY (SELECT {base.ROW_COLUMNS} FROM sync_crmrecord WHERE organization_id = {int(organization_id)} "
        f"AND modified_time >= '{since.isoformat()}') TO STDOUT"
    )
    with psycopg.connect(base.DSN) as conn, conn.cursor() as cursor, path.open("wb") as out:
        with cursor.copy(query) as copy:
            for data in copy:
                out.write(data)
    written = 0
    for name, table in base.CEILING_TABLES.items():
        phase[f"ceiling_{name}"], written = base.ceiling(path, run, table)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--memory-records", default="", help="comma-separated sizes for extra peak-RSS runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--crm", default="dynamics", help=argparse.SUPPRESS)  # bench.sync_mirror's switch
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    django.setup()
    from sandbox.app import create_app
    from sandbox.server import SandboxServer

    out = report.Report()
    count = args.records
    base.fresh_database()
    workdir = Path(tempfile.mkdtemp(prefix="sync-mirror-dv-"))
    phases: dict[str, dict[str, Any]] = {}
    memory: dict[int, dict[str, Any]] = {}
    app = create_app(world="empty")
    with SandboxServer(app, tls=True) as server:
        tls = {"login_url": server.tls_url, "ca_path": server.ca_path}
        state = server.state
        limits(state, real=False)
        environment = EmulatedEnvironment(server, name="benchgyms")
        started = time.perf_counter()
        environment.seed(count)
        seed_seconds = time.perf_counter() - started
        ours = organization_create("bench", server, environment)
        theirs = base.organization_create("ceiling")  # holds the ceiling's rows (a connection to nowhere)
        run = base.ceiling_run(theirs)

        base.checkpoint()
        serve = run_worker({"mode": "serve", "organization_id": ours, **tls})
        assert serve["rows"] == count, serve
        base.ceiling_tables()

        base.checkpoint()
        phases["cold"] = run_worker({"mode": "sync", "organization_id": ours, **tls})
        base.ceilings_measure(phases["cold"], organization_id=ours, path=workdir / "cold.copy", run=run, count=count)

        edited_at = state.clock.now().replace(microsecond=0) + timedelta(seconds=1)
        changed = environment.edit(CHANGED_SHARE, at=edited_at)
        base.checkpoint()
        phases["delta"] = run_worker({"mode": "sync", "organization_id": ours, **tls})
        written = changed_ceilings(
            phases["delta"], organization_id=ours, path=workdir / "delta.copy", run=run, since=edited_at
        )
        assert written == changed, (written, changed)

        base.checkpoint()
        quiet = run_worker({"mode": "sync", "organization_id": ours, **tls})
        assert quiet["inserted"] + quiet["updated"] == 0, quiet

        gone = environment.delete(max(1, int(count * DELETED_SHARE)))
        environment.expire_tokens()
        base.checkpoint()
        expired = run_worker({"mode": "sync", "organization_id": ours, **tls})
        assert expired["deleted"] == len(gone), (expired, len(gone))

        for size in [int(value) for value in args.memory_records.split(",") if value.strip()]:
            sized = EmulatedEnvironment(server, name=f"memory{size}")
            sized.seed(size)
            base.checkpoint()
            memory[size] = run_worker(
                {"mode": "sync", "organization_id": organization_create(f"mem{size}", server, sized), **tls}
            )
    row_bytes = (workdir / "cold.copy").stat().st_size / count
    report_write(
        out,
        count=count,
        changed=changed,
        serve=serve,
        phases=phases,
        quiet=quiet,
        expired=expired,
        deleted=len(gone),
        memory=memory,
        seed_seconds=seed_seconds,
        row_bytes=row_bytes,
    )
    out.write(args.output)


def report_write(
    out: Any,
    *,
    count: int,
    changed: int,
    serve: dict[str, Any],
    phases: dict[str, dict[str, Any]],
    quiet: dict[str, Any],
    expired: dict[str, Any],
    deleted: int,
    memory: dict[int, dict[str, Any]],
    seed_seconds: float,
    row_bytes: float,
) -> None:
    out(f"Mirror of {count:,} Dynamics 365 leads from the emulator ({serve['fields']} fields mapped), end to end")
    report.machine(out, base.ADMIN_DSN)
    out(
        f"emulator: seeded in {seed_seconds:.1f} s; in a thread of the parent process, over HTTP (Entra ID over "
        "HTTPS); service protection raised for these runs (its cost at Dataverse's limits is computed below)"
    )
    report.ceilings_named(out, row_bytes)
    out(
        f"emulator alone: every change-tracking page fetched through the provider and mapped, not written: "
        f"{serve['seconds']:.1f} s ({count / serve['seconds']:,.0f} records/s): {serve['crm']:.1f} s in "
        f"{serve['calls']:,} Web API calls ({serve['pages']:,} pages), {serve['mapping']:.1f} s mapping"
    )
    out()
    out(
        f"{'phase':<8} {'rows':>8} {'total s':>7} {'rec/s':>7} {'calls':>5} {'crm s':>6} {'wait s':>6} {'map s':>5} "
        f"{'upsert s':>8} {'other s':>7} | {'ceiling rec/s: today':>20} {'physical':>8} {'gin':>6} | "
        f"{'ratio: e2e/phys':>15} {'e2e/today':>9} {'code/phys':>9}"
    )
    verdicts = []
    for name, phase in phases.items():
        rows = phase["inserted"] + phase["updated"]
        other = phase["seconds"] - phase["wait"] - phase["upsert"]
        r = report.ratios(phase, rows)
        out(
            f"{name:<8} {rows:>8,} {phase['seconds']:>7.1f} {r['rate']:>7,.0f} {phase['calls']:>5,} "
            f"{phase['crm']:>6.1f} {phase['wait']:>6.1f} {phase['mapping']:>5.1f} {phase['upsert']:>8.1f} "
            f"{other:>7.1f} | {r['today']:>20,.0f} {r['physical']:>8,.0f} {r['gin']:>6,.0f} | {r['e2e']:>15.2f} "
            f"{r['e2e_today']:>9.2f} {r['code']:>9.2f}"
        )
        verdicts.append((name, r["e2e"], r["code"]))
    out(
        f"{'quiet':<8} {0:>8,} {quiet['seconds']:>7.1f} {'':>7} {quiet['calls']:>5,} {quiet['crm']:>6.1f} "
        "| nothing changed: the delta link answered no rows, nothing written"
    )
    out(
        f"{'expired':<8} {expired['inserted'] + expired['updated']:>8,} {expired['seconds']:>7.1f} "
        f"{count / expired['seconds']:>7,.0f} {expired['calls']:>5,} {expired['crm']:>6.1f} | every delta token "
        f"expired and {deleted:,} leads deleted: full read + id reconciliation, {expired['deleted']:,} marked "
        f"deleted; the run's note: {expired['note']!r}"
    )
    out()
    out(f"delta = {changed:,} leads ({CHANGED_SHARE:.0%}) edited after the cold load, read through the delta link.")
    out("calls = Web API calls of the run (the token endpoint not counted); crm = the time in them (HTTP, the")
    out("transport, the emulator answering on the same cores, JSON decoding); map = the provider's mapping to")
    out("CanonicalRecords (both in the reader thread, overlapping the writes, which also computes each record's JSON")
    out("and content hash for the upsert, not timed apart); wait = the writing thread waiting for the next batch;")
    out("upsert = crm_records_upsert; other = the rest (commits, checkpoints, run rows, deletions).")
    out("e2e = ours end to end; code = N / (map + upsert); ratios are records/s over the ceiling's in the same run.")
    report.verdicts(out, verdicts, base.TARGET_RATIO)
    cold_calls = phases["cold"]["calls"]
    out()
    out(
        f"At Dataverse's service protection ({REQUESTS_PER_WINDOW:,} requests per {WINDOW_SECONDS} s per user, 52 "
        f"concurrent): the cold load took {cold_calls:,} calls, {cold_calls / REQUESTS_PER_WINDOW:.1%} of one "
        "window's allowance: pages of 5,000 make the request limit no bound on a first load; execution time and "
        "the client's own concurrency are what remain."
    )
    out()
    out("Peak RSS of the sync process (a child process, VmHWM), cold runs against the emulator:")
    sized = {count: phases["cold"], **memory}
    report.rss_table(out, sorted(sized.items()))
    out(
        f"peak RSS of the other runs: delta {phases['delta']['rss_peak_mb']:.0f} MB, quiet "
        f"{quiet['rss_peak_mb']:.0f} MB, expired {expired['rss_peak_mb']:.0f} MB"
    )
    report.rss_flat(out, [result["rss_peak_mb"] for _, result in sorted(sized.items())], base.TARGET_PEAK_MB)


if __name__ == "__main__":
    main()
