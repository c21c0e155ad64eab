"""Benchmark: mirror 100,000 wide leads from the sandbox end to end, cold and as an all-update re-run (issue 6).

The sandbox holds N Leads of 70 fields each, every one filled (`sandbox/zoho_crm/seed_wide.py`: text, email,
phone, picklist, multiselect, date, datetime, currency, integer, bigint, decimal, boolean, lookup, owner, formula,
website, textarea). Phase 1 is a cold `sync_run` (every lead inserted); then every lead is edited in the sandbox
(Modified_Time moves) and phase 2 re-runs (every lead updated). Each run is a child process
(`--worker`) running the CRM-neutral engine (`sync_run` with the provider `provider_for` gives for the organization's
connection), so its peak RSS is the sync's alone; it reports where the time went: CRM calls (the sandbox answering
over HTTP on the same cores, JSON decoding, the transport), the provider's mapping to CanonicalRecords (both in the
reader thread), the upsert, and what the writing thread waits for.

The ceilings, measured in the same run, are raw PostgreSQL: the same mapped rows (read back from the mirror after
each phase, so exactly the rows the sync wrote) COPY'd into a temporary table and written by one
`INSERT ... SELECT ... ON CONFLICT ... DO UPDATE ... WHERE` (the same guard), cold, then the phase-2 rows as
updates, into three tables: today's (the mirror table itself, with all its indexes and foreign keys, under another
organization), the physical one (`CREATE TABLE ... (LIKE sync_crmrecord INCLUDING DEFAULTS ... IDENTITY)`
with only its btree unique key), and the same copy with the two `jsonb_ops` GIN indexes migration 0007 dropped
(what they cost). Ratios are records/s of ours over the physical ceiling's (and today's): end to end, and "our
code" (mapping + upsert of the same rows; phones are written too, the ceilings write none). The emulator's serving
rate alone: every page of the same COQL query fetched by the same client and discarded.

Peak memory: the same `sync_run` in a child process, its provider's client replaced by one that builds the same
wide leads page by page and projects them exactly as the sandbox's COQL does (a sandbox holding 1,000,000 such leads
would need ~10 GB and minutes to seed), at each of `--memory-records`. Flat = the same peak at every size.

    python -m bench.sync_mirror [--records 100000] [--memory-records 100000,1000000]

Uses BENCH_SYNC_DATABASE (default leadline_bench_sync), dropped and re-created, and its database cache (no Redis).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtZmllbGQtZW5jcnlwdGlvbi1rZXktMDAwMDA=")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("OUTBOUND_ALLOW_PRIVATE_HOSTS", "true")  # the sandbox answers on http://127.0.0.1
ADMIN_DSN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_SYNC_DATABASE", "leadline_bench_sync")
DSN = ADMIN_DSN.rsplit("/", 1)[0] + f"/{DATABASE}"
os.environ["DATABASE_URL"] = DSN.replace("postgresql://", "postgres://")
os.environ.pop("REDIS_URL", None)  # tokens, credits and slots in the bench database's cache table
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import psycopg  # noqa: E402

import django  # noqa: E402

from bench import mirror_report as report  # noqa: E402
from bench.measure import Timer, current_rss_mb, rss_mb  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "sync_mirror.txt"
MODULE = "Leads"
TARGET_RATIO = 0.5
TARGET_PEAK_MB = 300
OBJECT = report.OBJECT
ROW_COLUMNS = (
    "external_id, name, email, owner_id, owner_name, created_time, modified_time, content_hash, fields, custom_fields"
)


# --- the child process: one sync_run, timed -------------------------------------------------------------------
class GeneratedLeads:
    """A stand-in for the Zoho provider's client that builds wide leads page by page, shaped exactly as the sandbox's
    COQL answers (each `coql` call is the next page, in order, as a run from the start asks for them)."""

    def __init__(self, count: int, timer: Timer) -> None:
        from sandbox import worlds
        from sandbox.clock import Clock
        from sandbox.config import SandboxConfig
        from sandbox.zoho_crm.orgs import CrmState
        from sandbox.zoho_crm.seed_wide import WideLeads, widen_leads

        # Only the CRM org the projection needs: a whole SandboxState (Twilio, Voice...) holds ~100 MB, which
        # would count against the sync process here although it is not part of a sync.
        world = SimpleNamespace(config=SandboxConfig(), clock=Clock(), counters=Counter())
        world.crm = CrmState(world)
        users = worlds.DEMO_USERS
        self.org = world.crm.create_org(worlds.DEMO_ZOHO_ORG_ID, worlds.DEMO_ZOHO_ORG_NAME, users, prefix="4150868")
        widen_leads(self.org)
        self.wide = WideLeads(self.org)
        self.count, self.timer, self.credits_used = count, timer, 0
        self.pages: Iterator[list[dict[str, Any]]] | None = None

    def fields_get(self, *, module: str) -> list[dict[str, Any]]:
        return self.org.fields[module]

    def org_get(self) -> dict[str, Any]:
        return {"iso_code": "USD"}

    def deleted_records(self, **_: Any) -> Iterator[dict[str, Any]]:
        return iter(())

    def coql(self, *, query: str, limit: int, **_: Any) -> dict[str, Any]:
        if " where id in (" in query:
            raise AssertionError("every column fits one query")
        if self.pages is None:
            select, rest = query.split(" from ", 1)
            module = rest.split(" ", 1)[0]
            self.pages = self._pages(module=module, fields=select.removeprefix("select ").split(", "), size=limit)
        page = next(self.pages, [])
        return {"data": page, "info": {"more_records": len(page) == limit}}

    def _pages(self, *, module: str, fields: list[str], size: int) -> Iterator[list[dict[str, Any]]]:
        from sandbox.zoho_crm import coql
        from sandbox.zoho_crm.coql.executor import project

        columns = [name for name in dict.fromkeys([*fields, "Modified_Time"]) if name != "id"]
        plan = coql.prepare(self.org, f"select {', '.join(columns)} from {module} where id is not null limit 2000")
        now = self.org.now()
        start, step = now - timedelta(days=30), timedelta(days=29) / max(self.count, 1)
        ids = self.org.ids
        for first in range(0, self.count, size):
            started = time.perf_counter()
            page = []
            for number in range(first, min(first + size, self.count)):
                record = self.wide.lead(number, start + step * number)
                record["id"] = ids.next()
                page.append(project(plan, record))
            self.timer.seconds["source"] += time.perf_counter() - started
            yield page


def worker(job: dict[str, Any]) -> None:
    django.setup()
    from crm.connections import crm_connection_get
    from crm.records import Priority
    from crm.registry import provider_for
    from studios.models import Organization
    from sync import delta
    from sync.models import SyncRun

    timer = Timer()
    organization = Organization.objects.unscoped().get(pk=job["organization_id"])  # the bench names it by id
    provider: Any = provider_for(crm_connection_get(organization=organization), priority=Priority.BACKGROUND)
    # Instrumentation of the Zoho provider the bench drives: its client's calls and its mapping, timed in place.
    if job["mode"] == "generated":
        provider.client = GeneratedLeads(job["records"], timer)
    else:
        provider.client.request = timer.wrap("crm", provider.client.request)
    provider._canonical = timer.wrap("mapping", provider._canonical)
    if job["mode"] == "serve":  # the emulator alone: every page of the run's query fetched (and mapped), not written
        rows, _ = report.read_all(provider, page_size=2000)
        print(json.dumps({"seconds": timer.seconds["crm"], "mapping": timer.seconds["mapping"], "rows": rows}))
        return
    report.time_the_writes(timer)
    before = current_rss_mb()
    started = time.perf_counter()
    run = delta.sync_run(organization=organization, object=OBJECT, provider=provider)
    seconds = time.perf_counter() - started
    if run.status != SyncRun.Status.OK:
        raise SystemExit(f"sync run failed: {run.error}")
    result = {
        "seconds": seconds,
        **timer.seconds,
        "inserted": run.inserted,
        "updated": run.updated,
        "credits": run.credits_used,
        "rss_start_mb": before,
        "rss_peak_mb": rss_mb(),
    }
    print(json.dumps(result), flush=True)


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    return report.run_worker("bench.sync_mirror", job)


# --- the parent: database, sandbox, ceiling --------------------------------------------------------------------
def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


def checkpoint() -> None:
    """Flush dirty buffers, so a phase does not pay for the writes of the one before."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def fresh_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    connection.close()
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


def organization_create(slug: str, sandbox_url: str = "http://127.0.0.1:9") -> int:
    """An organization with a Zoho CRM connection (to the sandbox; to nowhere for one whose leads are generated or
    that only holds the ceiling's rows)."""
    from sandbox import worlds
    from studios.models import Organization, ProviderAccount

    organization = Organization.objects.create(slug=slug, name=f"{slug.title()} Fitness")
    if sandbox_url:
        ProviderAccount.unscoped_objects.create(
            organization=organization,
            name=f"{slug}-zoho",
            kind="zoho_crm",
            is_default=True,
            client_id=worlds.DEMO_CLIENT_ID,
            client_secret=worlds.DEMO_CLIENT_SECRET,
            refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
            accounts_url=sandbox_url,
            api_domain=sandbox_url,
        )
    return organization.pk


def rows_dump(organization_id: int, path: Path) -> None:
    """The mirror rows of an organization, as COPY text, to a file (read back as the ceiling's input)."""
    query = f"COPY (SELECT {ROW_COLUMNS} FROM sync_crmrecord WHERE organization_id = {int(organization_id)}) TO STDOUT"
    with psycopg.connect(DSN) as conn, conn.cursor() as cursor, path.open("wb") as out:
        with cursor.copy(query) as copy:
            for data in copy:
                out.write(data)


CEILING_TABLES = {
    "today": "sync_crmrecord",  # the mirror table itself: every index and foreign key it has
    "physical": "ceiling_physical",  # a copy with only its btree unique key
    "gin": "ceiling_gin",  # the same plus the two jsonb_ops GIN indexes of migration 0002 (0007 dropped them)
}


def ceiling_tables() -> None:
    with psycopg.connect(DSN, autocommit=True) as conn:
        for name in ("physical", "gin"):
            table = CEILING_TABLES[name]
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(
                f"CREATE TABLE {table} "
                "(LIKE sync_crmrecord INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY)"
            )
            conn.execute(
                f"CREATE UNIQUE INDEX {table}_key ON {table} (organization_id, connection_id, object, external_id)"
            )
        conn.execute("CREATE INDEX ceiling_gin_fields ON ceiling_gin USING gin (fields)")
        conn.execute("CREATE INDEX ceiling_gin_custom ON ceiling_gin USING gin (custom_fields)")


def ceiling(path: Path, run: Any, table: str = "sync_crmrecord") -> tuple[float, int]:
    """COPY the rows into a temp table + one guarded INSERT ... SELECT ... ON CONFLICT into `table`."""
    from sync.upsert import COLUMNS, KEY, UPDATED

    assignments = ", ".join(f"{column} = excluded.{column}" for column in UPDATED)
    key = f"{int(run.organization_id)}, {int(run.connection_id)}, '{OBJECT}'"
    insert = (
        f"INSERT INTO {table} AS stored ({', '.join(COLUMNS)}) "
        f"SELECT {key}, {ROW_COLUMNS}, NULL, now(), {int(run.pk)} FROM ceiling_rows "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {assignments} "
        "WHERE stored.modified_time < excluded.modified_time OR (stored.modified_time = excluded.modified_time "
        "AND (stored.content_hash <> excluded.content_hash OR stored.deleted_at IS NOT NULL))"
    )
    checkpoint()
    with psycopg.connect(DSN) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "CREATE TEMP TABLE ceiling_rows (external_id text, name text, email text, owner_id text, owner_name text, "
            "created_time timestamptz, modified_time timestamptz, content_hash text, fields jsonb, "
            "custom_fields jsonb) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY ceiling_rows ({ROW_COLUMNS}) FROM STDIN") as copy, path.open("rb") as source:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        cursor.execute(insert)
        written = cursor.rowcount
        conn.commit()
        return time.perf_counter() - started, written


def ceilings_measure(phase: dict[str, Any], *, organization_id: int, path: Path, run: Any, count: int) -> None:
    """The organization's mirror rows dumped to `path`, then written into each ceiling table: the seconds go into
    `phase` as ceiling_<table>."""
    rows_dump(organization_id, path)
    for name, table in CEILING_TABLES.items():
        phase[f"ceiling_{name}"], written = ceiling(path, run, table)
        assert written == count, (name, written, count)


def ceiling_run(organization_id: int) -> Any:
    from django.utils import timezone

    from crm.connections import crm_connection_get
    from studios.models import Organization
    from sync.models import SyncRun

    organization = Organization.objects.unscoped().get(pk=organization_id)
    connection = crm_connection_get(organization=organization)
    return SyncRun.objects.unscoped().create(
        organization=organization, connection=connection, object=OBJECT, started_at=timezone.now()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--memory-records", default="100000", help="comma-separated sizes for the peak-RSS runs")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    crms = ("zoho", "salesforce", "hubspot", "dynamics")
    parser.add_argument("--crm", choices=crms, default="zoho", help="the CRM emulated")
    args, extra = parser.parse_known_args()  # another CRM's bench takes options of its own
    if args.crm != "zoho":  # the same measurement on another CRM's emulator: bench/sync_mirror_<crm>.py
        return __import__(f"bench.sync_mirror_{args.crm}", fromlist=["main"]).main(sys.argv[1:])
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.worker:
        worker(json.loads(args.worker))
        return
    django.setup()
    from sandbox.server import SandboxServer
    from sandbox.zoho_crm.seed_wide import edit_wide_leads, seed_wide_leads

    out = report.Report()
    count = args.records
    fresh_database()
    workdir = Path(tempfile.mkdtemp(prefix="sync-mirror-"))
    with SandboxServer(world="empty") as server:
        zoho = next(iter(server.state.crm.orgs.values()))
        now = zoho.now()
        started = time.perf_counter()
        seed_wide_leads(zoho, count, start=now - timedelta(days=30), end=now - timedelta(hours=2))
        seed_seconds = time.perf_counter() - started
        width = len(zoho.fields[MODULE])
        ours = organization_create("bench", server.url)
        theirs = organization_create("ceiling")
        run = ceiling_run(theirs)

        phases: dict[str, dict[str, Any]] = {}
        checkpoint()
        serve = run_worker({"mode": "serve", "organization_id": ours})
        assert serve["rows"] == count, serve
        ceiling_tables()
        phases["cold"] = run_worker({"mode": "sandbox", "organization_id": ours})
        ceilings_measure(phases["cold"], organization_id=ours, path=workdir / "cold.copy", run=run, count=count)

        started = time.perf_counter()
        edited = edit_wide_leads(zoho, start=now - timedelta(minutes=90), end=now - timedelta(minutes=1))
        edit_seconds = time.perf_counter() - started
        checkpoint()
        phases["update"] = run_worker({"mode": "sandbox", "organization_id": ours})
        ceilings_measure(phases["update"], organization_id=ours, path=workdir / "update.copy", run=run, count=count)

        # Every lead read again unchanged (the watermark forgotten): nothing is written, each row is only locked by
        # the upsert's ON CONFLICT guard. What a re-run backfill or a long overlap costs.
        report.forget_watermark(ours)
        checkpoint()
        unchanged = run_worker({"mode": "sandbox", "organization_id": ours})
        assert unchanged["inserted"] + unchanged["updated"] == 0, unchanged
    row_bytes = (workdir / "cold.copy").stat().st_size / count

    memory: dict[int, dict[str, Any]] = {}
    for size in [int(value) for value in args.memory_records.split(",") if value.strip()]:
        checkpoint()
        memory[size] = run_worker(
            {"mode": "generated", "organization_id": organization_create(f"mem{size}"), "records": size}
        )

    out(f"Mirror of {count:,} wide leads from the sandbox: {width} fields each (every one filled), sync_run end to end")
    report.machine(out, ADMIN_DSN)
    out(
        f"sandbox: seeded in {seed_seconds:.1f} s, all {edited:,} leads edited in {edit_seconds:.1f} s; runs in its "
        "own thread of the parent process, answering COQL pages of 2,000 over HTTP; no limit raised (a run costs "
        f"{phases['cold']['credits']} credits of the 50,000/day pool)"
    )
    out(f"mapped row: {row_bytes:,.0f} bytes as COPY text")
    out(
        "ceilings: the same mapped rows COPY'd into a temp table + one INSERT ... SELECT ... ON CONFLICT DO UPDATE "
        "WHERE, into: today = sync_crmrecord itself (every index and foreign key it has); physical = a copy "
        "(LIKE ... INCLUDING DEFAULTS, CONSTRAINTS, IDENTITY) with only its btree unique key; gin = that copy with the "
        "two jsonb_ops GIN indexes (fields, custom_fields) migration 0007 dropped"
    )
    out(
        f"emulator alone: every page of the run's COQL query fetched through the provider, not written: "
        f"{serve['seconds']:.1f} s in CRM calls, {count / serve['seconds']:,.0f} records/s "
        f"(the provider's mapping of them besides: {serve['mapping']:.1f} s)"
    )
    out()
    out(
        f"{'phase':<9} {'rows':>8} {'total s':>7} {'rec/s':>6} {'crm s':>6} {'wait s':>6} {'map s':>5} "
        f"{'upsert s':>8} {'other s':>7} | {'ceiling rec/s: today':>20} {'physical':>8} {'gin':>6} | "
        f"{'ratio: e2e/phys':>15} {'e2e/today':>9} {'code/phys':>9}"
    )
    verdicts = []
    for name, phase in phases.items():
        rows = phase["inserted"] + phase["updated"]
        other = phase["seconds"] - phase["wait"] - phase["upsert"]
        r = report.ratios(phase, rows)
        out(
            f"{name:<9} {rows:>8,} {phase['seconds']:>7.1f} {r['rate']:>6,.0f} {phase['crm']:>6.1f} "
            f"{phase['wait']:>6.1f} {phase['mapping']:>5.1f} {phase['upsert']:>8.1f} {other:>7.1f} | "
            f"{r['today']:>20,.0f} {r['physical']:>8,.0f} {r['gin']:>6,.0f} | {r['e2e']:>15.2f} "
            f"{r['e2e_today']:>9.2f} {r['code']:>9.2f}"
        )
        verdicts.append((name, r["e2e"], r["code"]))
    other = unchanged["seconds"] - unchanged["wait"] - unchanged["upsert"]
    out(
        f"{'unchanged':<9} {count:>8,} {unchanged['seconds']:>7.1f} {count / unchanged['seconds']:>6,.0f} "
        f"{unchanged['crm']:>6.1f} {unchanged['wait']:>6.1f} {unchanged['mapping']:>5.1f} {unchanged['upsert']:>8.1f} "
        f"{other:>7.1f} | (every lead read again, none written: no ceiling)"
    )
    out()
    out("crm = time in the provider's CRM calls (the sandbox building and serialising pages, HTTP, JSON decoding, the")
    out("transport) and map = its mapping to CanonicalRecords, both in the reader thread, overlapping the writes;")
    out("wait = the writing thread waiting for the next batch (reads and mapping not hidden); upsert =")
    out("crm_records_upsert (content hash, COPY, records, phones, quarantine); other = total - wait - upsert: batch")
    out("commits, checkpoints, run rows, field specs, deletions.")
    out("e2e = ours end to end; code = N / (map + upsert), the product's own work on the same rows (the ceilings map")
    out("nothing and write no phones); ratios are records/s over the ceiling's in the same run.")
    report.verdicts(out, verdicts, TARGET_RATIO)
    out()
    out("Peak RSS of the sync process (a child process, VmHWM; leads built in-process, shaped as the sandbox's COQL):")
    report.rss_table(out, list(memory.items()))
    cold = phases["cold"]
    out(f"sandbox runs: peak RSS {cold['rss_peak_mb']:.0f} MB cold, {phases['update']['rss_peak_mb']:.0f} MB update")
    report.rss_flat(out, [result["rss_peak_mb"] for result in memory.values()], TARGET_PEAK_MB)
    out.write(args.output)


if __name__ == "__main__":
    main()
