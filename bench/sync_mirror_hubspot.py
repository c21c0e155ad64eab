"""Benchmark: mirror N HubSpot contacts from the emulator end to end, beside the physical ceiling (issue 16).

Cold, all-update and HubSpot's own one-timestamp batch update, beside the physical ceiling measured in the same run
(bench/sync_mirror.py's ceilings, as bench/sync_mirror_salesforce.py does), plus the API calls each run took and
what they would take at HubSpot's real limits.

    python -m bench.sync_mirror --crm hubspot [--records 100000]
    python -m bench.sync_mirror_hubspot [--records 100000] [--memory-records 10000,100000] [--limited-records 10000]

The emulator (`sandbox/hubspot/`, in a thread of the parent process) holds one portal with N contacts: names,
e-mails, phones in the formats people type (`phone`, `mobilephone`), lifecycle stages, owners, addresses, 30 custom
properties of a gym chain (text, numbers, dates, datetimes, picklists, checkboxes) and a company each (its primary
company, named in its associatedcompanyid, which the mirror flattens into `company_id`). Each run is a child
process (`--worker`) so its peak RSS is the sync's alone, driving the product's own code with the provider
`provider_for` gives for the organization's connection (a ProviderAccount of kind hubspot pointing at the
emulator, its app installed in the portal):

- serve: the emulator alone, every delta page fetched through the provider and mapped, nothing written;
- cold: `sync_run` from no watermark (the first load: search pages of 200 from the start, each contact's company
  from its associatedcompanyid, the next page read in a background thread while this one is written);
- update: every contact edited in the emulator (chunks of 1,000, each with its own lastmodifieddate, as people's or
  an import's edits land), then `sync_run` again;
- batch: every contact stamped with ONE lastmodifieddate (HubSpot's own month-end batch updates; Airbyte's source
  looped on it), then `sync_run` again: all of them read by the bucket query (`hs_object_id > last`), once;
- unchanged: the watermark forgotten and every contact read again (nothing written);
- limited: a cold run of `--limited-records` contacts at HubSpot's real limits (the emulator's defaults: 100
  requests per 10 s per app and portal, search 5 a second; the client's own search pace and background reserve):
  the measured cost of the limits, beside the bound computed from the calls.

The measuring runs raise the emulator's limits (and the client's search pace) so they measure our code; every run
counts its calls (searches and the rest) and says how long they would take at HubSpot's limits: searches at 5 a
second (HubSpot's search limit per portal), every call within 100 per 10 s (Free/Starter) or 190 (Professional,
Enterprise), the larger bound.

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
from bench.hubspot_portal import COMPANIES, EDIT_CHUNK, EmulatedPortal, organization_create
from bench.measure import Timer, current_rss_mb, rss_mb

RESULTS = Path(__file__).parent / "results" / "sync_mirror_hubspot.txt"
OBJECT = base.OBJECT  # "lead": HubSpot contacts, mirrored once under Leadline's lead
UNLIMITED = 10_000_000  # the emulator's limits in the measuring runs (the limits have a run of their own)
HUBSPOT_SEARCH_PER_SECOND = 5  # HubSpot's CRM search limit per portal (docs/vendors/hubspot.md)
HUBSPOT_PER_10S = (100, 190)  # per app and portal: Free/Starter, Professional/Enterprise


# --- the child process: one run, timed ------------------------------------------------------------------------
class Calls:
    """Every HTTP call the provider made to HubSpot's API (not the token endpoint), timed and counted by kind."""

    def __init__(self, timer: Timer) -> None:
        self.timer, self.search, self.other = timer, 0, 0
        self.lock = threading.Lock()

    def install(self) -> None:
        from crm.providers.hubspot import transport

        session = transport.http_session("hubspot")
        request = session.request

        def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                if str(url).rstrip("/").endswith("/search"):
                    self.search += 1
                else:
                    self.other += 1
            return request(method, url, *args, **kwargs)

        session.request = self.timer.wrap("crm", counted)  # type: ignore[method-assign]


def _instrument(timer: Timer) -> Calls:
    """Time the calls (HTTP, the transport, the emulator answering on the same cores), the decoding of their JSON and
    the mapping to CanonicalRecords, in place (the provider module holds its own reference to the mapping)."""
    from crm.providers.hubspot import mapping, provider, transport

    calls = Calls(timer)
    calls.install()
    timer.seconds["decode"] = 0.0
    transport.HubSpotResponse.json = timer.wrap("decode", transport.HubSpotResponse.json)  # type: ignore[method-assign]
    original = mapping.record_map
    for module in (mapping, provider):
        if getattr(module, "record_map", None) is original:
            module.record_map = timer.wrap("mapping", original)
    return calls


def worker(job: dict[str, Any]) -> None:
    if job.get("search_per_second"):  # the client's search pace (read by crm.providers.hubspot.conf at each use)
        os.environ["HUBSPOT_SEARCH_PER_SECOND"] = str(job["search_per_second"])
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
        rows, pages = report.read_all(provider, page_size=200)
        result = {"rows": rows, "pages": pages, "fields": len(provider.object_spec(object=OBJECT).fields)}
    else:
        report.time_the_writes(timer)
        before = current_rss_mb()
        run = delta.sync_run(organization=organization, object=OBJECT, provider=provider)
        if run.status != SyncRun.Status.OK:
            raise SystemExit(f"sync run failed: {run.error}")
        result = {"inserted": run.inserted, "updated": run.updated, "rss_start_mb": before, "rss_peak_mb": rss_mb()}
    result.update(seconds=time.perf_counter() - started, searches=calls.search, others=calls.other, **timer.seconds)
    print(json.dumps(result), flush=True)


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    return report.run_worker("bench.sync_mirror_hubspot", job)


# --- the parent: the emulated portal, organizations, ceilings ---------------------------------------------------
def limits(state: Any, *, real: bool) -> None:
    """The emulator's limits: HubSpot's defaults (sandbox/config.py) or raised for the measuring runs."""
    from sandbox.config import SandboxConfig

    defaults = SandboxConfig()
    for knob in ("hs_requests_per_10s", "hs_requests_per_day", "hs_search_requests_per_second"):
        setattr(state.config, knob, getattr(defaults, knob) if real else UNLIMITED)


def at_limits(calls: int, searches: int) -> str:
    """The least time `calls` (of which `searches`) take at HubSpot's limits, per tier."""
    bounds = [max(searches / HUBSPOT_SEARCH_PER_SECOND, calls / (per_10s / 10)) for per_10s in HUBSPOT_PER_10S]
    return " / ".join(f"{bound:,.0f} s" for bound in bounds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--memory-records", default="", help="comma-separated sizes for extra peak-RSS runs")
    parser.add_argument("--limited-records", type=int, default=10_000, help="contacts of the run at real limits")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--crm", default="hubspot", help=argparse.SUPPRESS)  # bench.sync_mirror's switch
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    django.setup()
    from sandbox.app import create_app
    from sandbox.server import SandboxServer

    out = report.Report()
    count, fast = args.records, {"search_per_second": UNLIMITED}
    base.fresh_database()
    workdir = Path(tempfile.mkdtemp(prefix="sync-mirror-hs-"))
    phases: dict[str, dict[str, Any]] = {}
    memory: dict[int, dict[str, Any]] = {}
    app = create_app(world="empty")
    with SandboxServer(app) as server:
        state = server.state
        limits(state, real=False)
        now = state.clock.now()
        portal = EmulatedPortal(server, name="Bench Gyms")
        started = time.perf_counter()
        portal.seed(count, start=now - timedelta(days=30), end=now - timedelta(hours=3))
        seed_seconds = time.perf_counter() - started
        ours = organization_create("bench", server.url, portal)
        theirs = base.organization_create("ceiling")  # holds the ceiling's rows (a connection to nowhere)
        run = base.ceiling_run(theirs)

        base.checkpoint()
        serve = run_worker({"mode": "serve", "organization_id": ours, **fast})
        assert serve["rows"] == count, serve
        base.ceiling_tables()
        edits: dict[str, float] = {}
        for name in ("cold", "update", "batch"):
            if name != "cold":
                started = time.perf_counter()
                if name == "update":
                    portal.edit_all(start=now - timedelta(minutes=150), end=now - timedelta(minutes=61))
                else:
                    portal.stamp_all(now - timedelta(minutes=30))
                edits[name] = time.perf_counter() - started
            base.checkpoint()
            phases[name] = run_worker({"mode": "sync", "organization_id": ours, **fast})
            base.ceilings_measure(
                phases[name], organization_id=ours, path=workdir / f"{name}.copy", run=run, count=count
            )

        report.forget_watermark(ours)
        base.checkpoint()
        unchanged = run_worker({"mode": "sync", "organization_id": ours, **fast})
        assert unchanged["inserted"] + unchanged["updated"] == 0, unchanged

        for size in [int(value) for value in args.memory_records.split(",") if value.strip()]:
            sized = EmulatedPortal(server, name=f"Memory {size}")
            sized.seed(size, start=now - timedelta(days=30), end=now - timedelta(hours=3))
            base.checkpoint()
            memory[size] = run_worker(
                {"mode": "sync", "organization_id": organization_create(f"mem{size}", server.url, sized), **fast}
            )
        limited: dict[str, Any] = {}
        if args.limited_records:
            small = EmulatedPortal(server, name="Limited")
            small.seed(args.limited_records, start=now - timedelta(days=30), end=now - timedelta(hours=3))
            limits(state, real=True)
            base.checkpoint()
            limited = run_worker({"mode": "sync", "organization_id": organization_create("limited", server.url, small)})
            limits(state, real=False)
    row_bytes = (workdir / "cold.copy").stat().st_size / count
    report_write(
        out,
        args,
        count=count,
        serve=serve,
        phases=phases,
        unchanged=unchanged,
        memory=memory,
        limited=limited,
        seed_seconds=seed_seconds,
        edits=edits,
        row_bytes=row_bytes,
    )
    out.write(args.output)


def report_write(
    out: Any,
    args: Any,
    *,
    count: int,
    serve: dict[str, Any],
    phases: dict[str, dict[str, Any]],
    unchanged: dict[str, Any],
    memory: dict[int, dict[str, Any]],
    limited: dict[str, Any],
    seed_seconds: float,
    edits: dict[str, float],
    row_bytes: float,
) -> None:
    out(f"Mirror of {count:,} HubSpot contacts from the emulator ({serve['fields']} fields mapped), end to end")
    report.machine(out, base.ADMIN_DSN)
    out(
        f"emulator: seeded in {seed_seconds:.1f} s ({COMPANIES} companies, one associated with each contact); all "
        f"contacts edited in {edits['update']:.1f} s (chunks of {EDIT_CHUNK:,}, one lastmodifieddate each), then "
        f"stamped with ONE lastmodifieddate in {edits['batch']:.1f} s; in a thread of the parent process, over HTTP; "
        "its rate limits raised for these runs (the limited run below keeps HubSpot's)"
    )
    report.ceilings_named(out, row_bytes)
    serve_calls = serve["searches"] + serve["others"]
    out(
        f"emulator alone: every delta page fetched through the provider and mapped, not written: "
        f"{serve['seconds']:.1f} s ({count / serve['seconds']:,.0f} records/s): {serve['crm']:.1f} s in "
        f"{serve_calls:,} HubSpot calls ({serve['searches']:,} searches of {serve['pages']:,} pages, "
        f"{serve['others']:,} others), {serve['decode']:.1f} s decoding their JSON, {serve['mapping']:.1f} s mapping"
    )
    out()
    out(
        f"{'phase':<9} {'rows':>8} {'total s':>7} {'rec/s':>6} {'search':>6} {'other':>6} {'crm s':>6} {'dec s':>5} "
        f"{'wait s':>6} "
        f"{'map s':>5} {'upsert s':>8} {'other s':>7} | {'ceiling rec/s: today':>20} {'physical':>8} {'gin':>6} | "
        f"{'ratio: e2e/phys':>15} {'e2e/today':>9} {'code/phys':>9} | {'at limits (100 / 190 per 10 s)':>30}"
    )
    verdicts = []
    for name, phase in phases.items():
        rows = phase["inserted"] + phase["updated"]
        other = phase["seconds"] - phase["wait"] - phase["upsert"]
        r = report.ratios(phase, rows)
        calls = phase["searches"] + phase["others"]
        out(
            f"{name:<9} {rows:>8,} {phase['seconds']:>7.1f} {r['rate']:>6,.0f} {phase['searches']:>6,} "
            f"{phase['others']:>6,} {phase['crm']:>6.1f} {phase['decode']:>5.1f} {phase['wait']:>6.1f} "
            f"{phase['mapping']:>5.1f} {phase['upsert']:>8.1f} {other:>7.1f} | {r['today']:>20,.0f} "
            f"{r['physical']:>8,.0f} {r['gin']:>6,.0f} | {r['e2e']:>15.2f} {r['e2e_today']:>9.2f} {r['code']:>9.2f} | "
            f"{at_limits(calls, phase['searches']):>30}"
        )
        verdicts.append((name, r["e2e"], r["code"]))
    other = unchanged["seconds"] - unchanged["wait"] - unchanged["upsert"]
    calls = unchanged["searches"] + unchanged["others"]
    out(
        f"{'unchanged':<9} {count:>8,} {unchanged['seconds']:>7.1f} {count / unchanged['seconds']:>6,.0f} "
        f"{unchanged['searches']:>6,} {unchanged['others']:>6,} {unchanged['crm']:>6.1f} {unchanged['decode']:>5.1f} "
        f"{unchanged['wait']:>6.1f} "
        f"{unchanged['mapping']:>5.1f} {unchanged['upsert']:>8.1f} {other:>7.1f} | (every contact read again, none "
        f"written: no ceiling) | {at_limits(calls, unchanged['searches']):>30}"
    )
    out()
    out("search / other = HubSpot API calls of the run (CRM searches; the rest: associations batch reads, properties,")
    out("owners, the archived list; the token endpoint not counted); crm = the time in them (HTTP, the transport,")
    out("the emulator answering on the same cores); dec = decoding their JSON; map = the provider's mapping to")
    out("CanonicalRecords (all three in the reader thread, overlapping the writes); wait = the writing thread waiting")
    out("for the next batch;")
    out("upsert = crm_records_upsert; other = the rest (commits, checkpoints, run rows, properties, deletions).")
    out("e2e = ours end to end; code = N / (map + upsert); ratios are records/s over the ceiling's in the same run.")
    out(
        f"at limits = the least time those calls take at HubSpot's limits: searches at {HUBSPOT_SEARCH_PER_SECOND} a "
        "second per portal, every call within 100 (Free/Starter) or 190 (Professional/Enterprise) per 10 s per app"
    )
    report.verdicts(out, verdicts, base.TARGET_RATIO)
    if limited:
        rows = limited["inserted"] + limited["updated"]
        calls = limited["searches"] + limited["others"]
        out()
        out(
            f"At HubSpot's limits (the emulator's defaults: 100 requests per 10 s, search 5 a second; the client's "
            f"search pace and background reserve): a cold run of {rows:,} contacts took {limited['seconds']:.1f} s "
            f"({rows / limited['seconds']:,.0f} records/s), {limited['searches']:,} searches and "
            f"{limited['others']:,} other calls; the bound from its calls is {at_limits(calls, limited['searches'])} "
            f"(100 / 190 per 10 s). Scaled to {count:,}: about {limited['seconds'] * count / max(rows, 1):,.0f} s."
        )
    out()
    out("Peak RSS of the sync process (a child process, VmHWM), cold runs against the emulator:")
    sized = {count: phases["cold"], **memory}
    report.rss_table(out, sorted(sized.items()))
    out(
        f"peak RSS of the other runs: update {phases['update']['rss_peak_mb']:.0f} MB, batch "
        f"{phases['batch']['rss_peak_mb']:.0f} MB, unchanged {unchanged['rss_peak_mb']:.0f} MB"
    )
    report.rss_flat(out, [result["rss_peak_mb"] for _, result in sorted(sized.items())], base.TARGET_PEAK_MB)


if __name__ == "__main__":
    main()
