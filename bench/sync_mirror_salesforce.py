"""Benchmark: mirror N wide Salesforce Leads from the emulator end to end, beside the physical ceiling (issue 15).

Cold, as the Bulk API 2.0 first load, all-update and unchanged, beside the physical ceiling measured in the same run
(the Zoho bench, bench/sync_mirror.py, is the model).

    python -m bench.sync_mirror --crm salesforce [--records 100000]
    python -m bench.sync_mirror_salesforce [--records 100000] [--memory-records 10000,100000]

The emulator (`sandbox/salesforce/`, in a thread of the parent process) holds one org with N seeded Leads of its
116-field describe (names, phones in the formats people type, addresses, picklists, custom fields, long text areas,
converted leads; `sandbox/salesforce/seed.py`). Each run is a child process (`--worker`) so its peak RSS is the
sync's alone, driving the product's own code with the provider `provider_for` gives for the organization's
connection (a ProviderAccount of kind salesforce pointing at the emulator):

- serve: the emulator alone, every delta page of the run's SOQL query fetched through the provider and mapped,
  nothing written;
- cold: `sync_run` from no watermark (the delta path: keyset pages on (SystemModstamp, Id) through SOQL, the next
  page read and mapped in a background thread while this one is written);
- bulk: `backfill_run` of a second organization on the same Salesforce org (the product's first load: a Bulk API
  2.0 query job, its CSV pages by Sforce-Locator);
- update: every Lead edited in the emulator (in chunks of 1,000, each with its own SystemModstamp, as a person's
  or a data load's edits land), then `sync_run` again (every lead updated);
- unchanged: the watermark forgotten and every lead read again (nothing written).

The ceilings are bench/sync_mirror.py's, measured in the same run on the rows this run wrote: the same mapped rows
COPY'd into a temporary table and written by one guarded `INSERT ... SELECT ... ON CONFLICT DO UPDATE WHERE` into
the mirror table itself (today), into a copy with only its unique key (physical), and that copy with two GIN
indexes (gin). Ratios are records/s over the physical ceiling's.

Peak memory: the cold run's child at each of `--memory-records` (a run of its own, on an org seeded with that many
leads): flat = the same peak at every size.

Uses BENCH_SYNC_DATABASE (default leadline_bench_sync), dropped and re-created, and its database cache (no Redis).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

import django

from bench import mirror_report as report
from bench import sync_mirror as base  # sets the environment (database, settings) before Django is imported
from bench.measure import Timer, current_rss_mb, rss_mb

RESULTS = Path(__file__).parent / "results" / "sync_mirror_salesforce.txt"
OBJECT = base.OBJECT
SOBJECT = "Lead"
EDIT_CHUNK = 1000  # leads edited per control call, each chunk with its own SystemModstamp
DAILY_REQUESTS = 5_000_000  # the bench's org may spend what it needs (the allocation is tested elsewhere)


# --- the child process: one run, timed ------------------------------------------------------------------------
def _instrument(provider: Any, timer: Timer) -> None:
    """Time the provider's Salesforce calls (HTTP, the emulator answering on the same cores, JSON decoding) and its
    mapping to CanonicalRecords, in place."""
    from crm.providers.salesforce import transport

    provider.client._call = timer.wrap("crm", provider.client._call)
    timer.seconds["decode"] = 0.0
    decode = transport.SalesforceResponse.json
    transport.SalesforceResponse.json = timer.wrap("decode", decode)  # type: ignore[method-assign]
    provider._canonical = timer.wrap("mapping", provider._canonical)


def worker(job: dict[str, Any]) -> None:
    if job.get("switch_interval"):  # an experiment: how long a thread holds the GIL before the other may take it
        sys.setswitchinterval(float(job["switch_interval"]))
    django.setup()
    from crm.connections import crm_connection_get
    from crm.records import Priority
    from crm.registry import provider_for
    from studios.models import Organization
    from sync import backfill, delta
    from sync.models import SyncRun

    timer = Timer()
    organization = Organization.objects.unscoped().get(pk=job["organization_id"])
    provider: Any = provider_for(crm_connection_get(organization=organization), priority=Priority.BACKGROUND)
    _instrument(provider, timer)
    if job["mode"] == "serve":
        profiler = cProfile.Profile() if job.get("profile") else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        rows, pages = report.read_all(provider, page_size=2000)
        if profiler is not None:  # where the reader's time goes, to stderr (the timings above include the profiler)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        print(
            json.dumps(
                {
                    "seconds": time.perf_counter() - started,
                    "crm": timer.seconds["crm"],
                    "decode": timer.seconds["decode"],
                    "mapping": timer.seconds["mapping"],
                    "rows": rows,
                    "pages": pages,
                    "calls": provider.credits_used,
                    "fields": len(provider.object_spec(object=OBJECT).fields),
                }
            )
        )
        return

    report.time_the_writes(timer, backfill=True)
    timer.seconds["export_wait"] = 0.0
    if job["mode"] == "bulk":  # the backfill polling the Bulk API 2.0 job (nothing else sleeps in this process)
        backfill.time.sleep = timer.wrap("export_wait", backfill.time.sleep)
    before = current_rss_mb()
    profiler = cProfile.Profile() if job.get("profile") else None  # this thread only: the writes, not the reads
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    if job["mode"] == "bulk":
        run = backfill.backfill_run(organization=organization, object=OBJECT, provider=provider)
    else:
        run = delta.sync_run(organization=organization, object=OBJECT, provider=provider)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    if run.status != SyncRun.Status.OK:
        raise SystemExit(f"sync run failed: {run.error}")
    print(
        json.dumps(
            {
                "seconds": seconds,
                **timer.seconds,
                "inserted": run.inserted,
                "updated": run.updated,
                "calls": provider.credits_used,
                "rss_start_mb": before,
                "rss_peak_mb": rss_mb(),
            }
        ),
        flush=True,
    )


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    return report.run_worker("bench.sync_mirror_salesforce", job)


# --- the parent: emulator org, organizations, ceilings ----------------------------------------------------------
class EmulatorTime:
    """Time the emulator's handlers spend answering Salesforce API calls (server side, in the parent's threads):
    the part of a run's call time that is the emulator's, not HTTP's or the client's."""

    def __init__(self, app: Any) -> None:
        self.seconds = 0.0
        self.lock = threading.Lock()
        dispatch = app.dispatch

        def timed(request: Any) -> Any:
            if not request.path.startswith("/services/data/"):
                return dispatch(request)
            started = time.perf_counter()
            try:
                return dispatch(request)
            finally:
                with self.lock:
                    self.seconds += time.perf_counter() - started

        app.dispatch = timed

    def take(self) -> float:
        """The seconds since the last take."""
        with self.lock:
            seconds, self.seconds = self.seconds, 0.0
        return seconds


class EmulatedOrg:
    """One org on the emulator, through its control API (`/_sandbox/salesforce/...`)."""

    def __init__(self, server_url: str, *, name: str) -> None:
        self.server_url = server_url
        from crm.providers.salesforce import oauth_flow

        body = {"name": name, "redirect_uris": [oauth_flow.redirect_uri()], "daily_api_requests": DAILY_REQUESTS}
        self.org = self._call("POST", "salesforce/orgs", body)
        self.org_id = str(self.org["org_id"])

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(method, f"{self.server_url}/_sandbox/{path}", json=body, timeout=1800)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def seed(self, count: int) -> list[str]:
        return list(
            self._call("POST", f"salesforce/orgs/{self.org_id}/seed", {"sobject": SOBJECT, "count": count})["ids"]
        )

    def edit_all(self, ids: list[str]) -> int:
        """Every lead edited once: chunks of EDIT_CHUNK, each stamped now (one SystemModstamp per chunk)."""
        for number, start in enumerate(range(0, len(ids), EDIT_CHUNK)):
            values = {
                "Description": f"Edited in the benchmark's update pass, chunk {number}: called back, booked a trial.",
                "Rating": ("Hot", "Warm", "Cold")[number % 3],
                "Title": f"Member #{number}",
            }
            self._call(
                "PATCH",
                f"salesforce/orgs/{self.org_id}/records/{SOBJECT}",
                {"ids": ids[start : start + EDIT_CHUNK], "values": values},
            )
        return len(ids)


def organization_create(slug: str, server_url: str, org: EmulatedOrg) -> int:
    """An organization whose default CRM connection is the emulated org (its ready refresh token)."""
    return report.organization_with_crm(
        slug,
        kind="salesforce",
        brand="Fitness",
        client_id=org.org["client_id"],
        client_secret=org.org["client_secret"],
        refresh_token=org.org["refresh_token"],
        accounts_url=server_url,
        api_domain=org.org.get("instance_url") or server_url,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--memory-records", default="", help="comma-separated sizes for extra peak-RSS runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--switch-interval", type=float, default=0.0, help="sys.setswitchinterval of the cold run")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the emulator-alone reads and the cold run's writes (stderr)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--crm", default="salesforce", help=argparse.SUPPRESS)  # bench.sync_mirror's switch
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
    workdir = Path(tempfile.mkdtemp(prefix="sync-mirror-sf-"))
    phases: dict[str, dict[str, Any]] = {}
    memory: dict[int, dict[str, Any]] = {}
    app = create_app(world="empty")
    emulator = EmulatorTime(app)
    with SandboxServer(app) as server:
        org = EmulatedOrg(server.url, name="Bench Fitness")
        started = time.perf_counter()
        ids = org.seed(count)
        seed_seconds = time.perf_counter() - started
        ours = organization_create("bench", server.url, org)
        bulk = organization_create("bulk", server.url, org)
        theirs = base.organization_create("ceiling")  # holds the ceiling's rows (a connection to nowhere)
        run = base.ceiling_run(theirs)

        base.checkpoint()
        emulator.take()
        serve = run_worker({"mode": "serve", "organization_id": ours, "profile": args.profile})
        serve["emulator"] = emulator.take()
        assert serve["rows"] == count, serve
        base.ceiling_tables()
        phases["cold"] = run_worker(
            {"mode": "sync", "organization_id": ours, "profile": args.profile, "switch_interval": args.switch_interval}
        )
        phases["cold"]["emulator"] = emulator.take()
        base.ceilings_measure(phases["cold"], organization_id=ours, path=workdir / "cold.copy", run=run, count=count)
        base.checkpoint()
        emulator.take()
        phases["bulk"] = run_worker({"mode": "bulk", "organization_id": bulk})
        phases["bulk"]["emulator"] = emulator.take()
        for name in base.CEILING_TABLES:
            phases["bulk"][f"ceiling_{name}"] = phases["cold"][f"ceiling_{name}"]  # the same rows, cold

        started = time.perf_counter()
        edited = org.edit_all(ids)
        edit_seconds = time.perf_counter() - started
        base.checkpoint()
        emulator.take()
        phases["update"] = run_worker({"mode": "sync", "organization_id": ours})
        phases["update"]["emulator"] = emulator.take()
        update_copy = workdir / "update.copy"
        base.ceilings_measure(phases["update"], organization_id=ours, path=update_copy, run=run, count=count)

        report.forget_watermark(ours)
        base.checkpoint()
        emulator.take()
        unchanged = run_worker({"mode": "sync", "organization_id": ours})
        unchanged["emulator"] = emulator.take()
        assert unchanged["inserted"] + unchanged["updated"] == 0, unchanged

        for size in [int(value) for value in args.memory_records.split(",") if value.strip()]:
            sized = EmulatedOrg(server.url, name=f"Memory {size}")
            sized.seed(size)
            base.checkpoint()
            memory[size] = run_worker(
                {"mode": "sync", "organization_id": organization_create(f"mem{size}", server.url, sized)}
            )
    row_bytes = (workdir / "cold.copy").stat().st_size / count

    out(f"Mirror of {count:,} wide Salesforce Leads from the emulator ({serve['fields']} fields mapped), end to end")
    report.machine(out, base.ADMIN_DSN)
    out(
        f"emulator: seeded in {seed_seconds:.1f} s, all {edited:,} leads edited in {edit_seconds:.1f} s (chunks of "
        f"{EDIT_CHUNK:,}, one SystemModstamp each); in a thread of the parent process, over HTTP"
    )
    report.ceilings_named(out, row_bytes)
    out(
        f"emulator alone: every delta page fetched through the provider and mapped, not written: "
        f"{serve['seconds']:.1f} s ({count / serve['seconds']:,.0f} records/s): {serve['crm']:.1f} s in the "
        f"{serve['calls']} Salesforce calls of {serve['pages']} pages ({count / serve['crm']:,.0f} records/s; the "
        f"emulator's handlers {serve['emulator']:.1f} s of it), {serve['decode']:.1f} s decoding their JSON, "
        f"{serve['mapping']:.1f} s mapping"
    )
    out()
    out(
        f"{'phase':<9} {'rows':>8} {'total s':>7} {'rec/s':>6} {'calls':>6} {'crm s':>6} {'emu s':>5} {'dec s':>5} "
        f"{'wait s':>6} {'map s':>5} "
        f"{'upsert s':>8} {'other s':>7} | {'ceiling rec/s: today':>20} {'physical':>8} {'gin':>6} | "
        f"{'ratio: e2e/phys':>15} {'e2e/today':>9} {'code/phys':>9}"
    )
    verdicts = []
    for name, phase in phases.items():
        rows = phase["inserted"] + phase["updated"]
        waited = phase["wait"] + phase.get("export_wait", 0.0)
        serial = phase["crm"] + phase["decode"] + phase["mapping"] if name == "bulk" else 0.0  # one thread: no overlap
        other = phase["seconds"] - waited - phase["upsert"] - serial
        r = report.ratios(phase, rows)
        out(
            f"{name:<9} {rows:>8,} {phase['seconds']:>7.1f} {r['rate']:>6,.0f} {phase['calls']:>6,} "
            f"{phase['crm']:>6.1f} {phase['emulator']:>5.1f} {phase['decode']:>5.1f} {waited:>6.1f} "
            f"{phase['mapping']:>5.1f} {phase['upsert']:>8.1f} {other:>7.1f} | {r['today']:>20,.0f} "
            f"{r['physical']:>8,.0f} {r['gin']:>6,.0f} | {r['e2e']:>15.2f} {r['e2e_today']:>9.2f} {r['code']:>9.2f}"
        )
        verdicts.append((name, r["e2e"], r["code"]))
    other = unchanged["seconds"] - unchanged["wait"] - unchanged["upsert"]
    out(
        f"{'unchanged':<9} {count:>8,} {unchanged['seconds']:>7.1f} {count / unchanged['seconds']:>6,.0f} "
        f"{unchanged['calls']:>6,} {unchanged['crm']:>6.1f} {unchanged['emulator']:>5.1f} {unchanged['decode']:>5.1f} "
        f"{unchanged['wait']:>6.1f} {unchanged['mapping']:>5.1f} "
        f"{unchanged['upsert']:>8.1f} {other:>7.1f} | (every lead read again, none written: no ceiling)"
    )
    out()
    out("calls = Salesforce API requests the run made (each one of the org's daily allocation); crm = the round")
    out("trips (HTTP, the transport, the emulator answering on the same cores), of which emu = the emulator's handlers")
    out("(server side, in the parent); dec = decoding the answers' JSON (client side); map = the provider's mapping to")
    out("CanonicalRecords: in the reader thread for cold/update/unchanged (overlapping the writes), in the writing")
    out("thread for bulk (the backfill streams the job's CSV pages and writes them in turn); wait = the writing")
    out("thread waiting for the next batch (bulk: polling the Bulk API 2.0 job); upsert = crm_records_upsert;")
    out("other = the rest (commits, checkpoints, run rows, describe, deletions; bulk: also CSV parsing).")
    out("e2e = ours end to end; code = N / (map + upsert); ratios are records/s over the ceiling's in the same run;")
    out("bulk is compared with the cold ceiling (the same rows, inserted).")
    report.verdicts(out, verdicts, base.TARGET_RATIO)
    out()
    out("Peak RSS of the sync process (a child process, VmHWM), cold runs against the emulator:")
    sized = {count: phases["cold"], **memory}
    report.rss_table(out, sorted(sized.items()))
    out(
        f"peak RSS of the other runs: bulk {phases['bulk']['rss_peak_mb']:.0f} MB, update "
        f"{phases['update']['rss_peak_mb']:.0f} MB, unchanged {unchanged['rss_peak_mb']:.0f} MB"
    )
    peaks = [result["rss_peak_mb"] for _, result in sorted(sized.items())]
    steps = [
        f"{low:,} -> {high:,}: {sized[high]['rss_peak_mb'] - sized[low]['rss_peak_mb']:+.0f} MB"
        for low, high in zip(sorted(sized), sorted(sized)[1:], strict=False)
    ]
    if steps:
        out(f"peak RSS growth by size: {'; '.join(steps)}")
    report.rss_flat(out, peaks, base.TARGET_PEAK_MB)
    out.write(args.output)


if __name__ == "__main__":
    main()
