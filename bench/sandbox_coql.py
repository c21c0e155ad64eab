"""Benchmark: can the sandbox ever be the bottleneck of a CRM sync?

Seeds 200,000 leads into the sandbox, then times COQL pages of 2,000 over real HTTP for the shapes a sync
uses (first delta page, a keyset page deep in the set, an OFFSET page near the 100,000 cap). The baseline,
measured in the same run on the same machine, is the least work a sync must do with such a page: upsert its
2,000 rows into PostgreSQL with the modified-time guard (one executemany of INSERT ... ON CONFLICT ... WHERE).
Both sides are full-width, as the mirror needs: the query selects every Leads field (more than 50), and the
upsert writes typed columns plus the whole record into a `custom_fields` JSONB column with a GIN index.
A ratio below 1 means the sandbox serves a page faster than the product can store it.

The same delta pages are then read the way the product reads them, through the CRM provider interface
(`provider_for(connection).changed_since(...)`, the Zoho provider on a connection to the sandbox: HTTP, the token
broker, JSON decoding and the mapping to CanonicalRecords), to show what the provider adds to the emulator's own
time. (The OFFSET page is the emulator's only: the product never pages by OFFSET.) That needs a database for the
connection row: BENCH_COQL_DATABASE (default leadline_bench_coql), dropped and re-created.

    python -m bench.sandbox_coql [--leads 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from typing import Any

os.environ.setdefault("BENCH_SYNC_DATABASE", os.environ.get("BENCH_COQL_DATABASE", "leadline_bench_coql"))

import psycopg
import requests

from bench import sync_mirror
from sandbox.server import SandboxServer
from sandbox.worlds import DEMO_CRM_REFRESH_TOKEN

PAGE = 2000


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def coql(session: requests.Session, url: str, token: str, query: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = session.post(
        f"{url}/crm/v8/coql",
        json={"select_query": query},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=60,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def upsert_baseline(rows: list[dict[str, Any]], repeat: int) -> list[float]:
    dsn = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    samples = []
    with psycopg.connect(dsn, autocommit=False) as connection:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_leads (zoho_id text PRIMARY KEY, last_name text, first_name text, "
                "email text, mobile text, lead_status text, owner_id text, modified_time timestamptz, "
                "custom_fields jsonb)"
            )
            cursor.execute("CREATE INDEX ON bench_leads USING gin (custom_fields)")
            statement = (
                "INSERT INTO bench_leads AS t (zoho_id, last_name, first_name, email, mobile, lead_status, owner_id, "
                "modified_time, custom_fields) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (zoho_id) DO UPDATE SET last_name = EXCLUDED.last_name, first_name = EXCLUDED.first_name, "
                "email = EXCLUDED.email, mobile = EXCLUDED.mobile, lead_status = EXCLUDED.lead_status, "
                "owner_id = EXCLUDED.owner_id, modified_time = EXCLUDED.modified_time, "
                "custom_fields = EXCLUDED.custom_fields WHERE EXCLUDED.modified_time >= t.modified_time"
            )
            params = [
                (
                    r["id"],
                    r.get("Last_Name"),
                    r.get("First_Name"),
                    r.get("Email"),
                    r.get("Mobile"),
                    r.get("Lead_Status"),
                    (r.get("Owner") or {}).get("id"),
                    r.get("Modified_Time"),
                    json.dumps(r),
                )
                for r in rows
            ]
            for _ in range(repeat):
                started = time.perf_counter()
                cursor.executemany(statement, params)
                connection.commit()
                samples.append(time.perf_counter() - started)
    return samples


def provider_pages(server_url: str, cursors: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    """The delta pages through the provider interface: `changed_since` of the Zoho provider on a connection to the
    sandbox, each page read and mapped to CanonicalRecords."""
    from crm.connections import crm_connection_get
    from crm.records import Priority
    from crm.registry import provider_for
    from studios.models import Organization

    organization = Organization.objects.unscoped().get(pk=sync_mirror.organization_create("coql", server_url))
    provider = provider_for(crm_connection_get(organization=organization), priority=Priority.BACKGROUND)
    provider.object_spec(object="lead")  # the field specs, once, as a run reads them
    results: dict[str, list[float]] = {}
    for name, cursor in cursors.items():
        provider.changed_since(object="lead", cursor=cursor, page_size=PAGE)  # warm-up
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            page = provider.changed_since(object="lead", cursor=cursor, page_size=PAGE)
            samples.append(time.perf_counter() - started)
            assert len(page.records) == PAGE, (name, len(page.records))
        results[name] = samples
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from crm.records import Cursor
    from sandbox.zoho_crm.seed import seed_leads
    from sandbox.zoho_crm.store import parse_zoho_datetime

    sync_mirror.fresh_database()

    columns: list[str] = []
    with SandboxServer(world="empty") as server:
        state = server.state
        org = next(iter(state.crm.orgs.values()))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        seed_leads(org, args.leads, seed=7)
        seed_seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        refresh = state.accounts.refresh_tokens[DEMO_CRM_REFRESH_TOKEN]
        state.config.access_tokens_per_refresh_per_window = 10_000
        state.config.api_credits_per_day = 10_000_000
        token = state.accounts.issue_access_token(refresh).token
        session = requests.Session()
        url = server.url

        leads = org.module("Leads")
        columns = [f["api_name"] for f in org.fields["Leads"] if f["api_name"] != "id"]
        fields = ", ".join(columns)
        middle = list(leads.iter_by_modified())[len(leads) // 2]
        shapes = {
            "first delta page": f"select {fields} from Leads where Modified_Time >= '2000-01-01T00:00:00+00:00' "
            f"order by Modified_Time asc, id asc limit {PAGE}",
            "keyset page, middle of the set": (
                f"select {fields} from Leads where ((Modified_Time > '{middle['Modified_Time']}') or "
                f"(Modified_Time = '{middle['Modified_Time']}' and id > '{middle['id']}')) "
                f"order by Modified_Time asc, id asc limit {PAGE}"
            ),
            "offset page at 98,000": f"select {fields} from Leads where id is not null order by id asc "
            f"limit 98000, {PAGE}",
        }
        results: dict[str, list[float]] = {}
        page_rows: list[dict[str, Any]] = []
        for name, query in shapes.items():
            coql(session, url, token, query)  # warm-up
            samples = []
            for _ in range(args.repeat):
                elapsed, body = coql(session, url, token, query)
                samples.append(elapsed)
                assert len(body["data"]) == PAGE, (name, len(body["data"]))
                page_rows = page_rows or body["data"]
            results[name] = samples
        cursors = {
            "first delta page": Cursor.start(),
            "keyset page, middle of the set": Cursor(
                modified_time=parse_zoho_datetime(middle["Modified_Time"]), record_id=str(middle["id"])
            ),
        }
        through_provider = provider_pages(url, cursors, args.repeat)

    baseline = upsert_baseline(page_rows, args.repeat)
    base_ms = median_ms(baseline)
    print(f"COQL selects all {len(columns)} Leads fields; the upsert stores each row in typed columns + JSONB (GIN)")
    print(
        f"sandbox: {args.leads:,} leads seeded in {seed_seconds:.1f} s, "
        f"peak RSS +{(rss_after - rss_before) / 1024:.0f} MiB"
    )
    print(f"baseline: upsert of one {PAGE:,}-row page into PostgreSQL: median {base_ms:.1f} ms")
    print(f"{'COQL page of 2,000 over HTTP':<42} {'median ms':>10} {'ratio to baseline':>18}")
    for name, samples in results.items():
        ms = median_ms(samples)
        print(f"{name:<42} {ms:>10.1f} {ms / base_ms:>18.2f}")
    print(f"{'the same through provider.changed_since':<42} {'median ms':>10} {'ratio to baseline':>18}")
    for name, samples in through_provider.items():
        ms = median_ms(samples)
        print(f"{name:<42} {ms:>10.1f} {ms / base_ms:>18.2f}")
    worst = max(median_ms(s) for s in results.values()) / base_ms
    print(
        f"verdict: {'the sandbox is never the bottleneck' if worst < 1 else 'the sandbox is SLOWER than the sync'}"
        f" (worst ratio {worst:.2f})"
    )


if __name__ == "__main__":
    main()
