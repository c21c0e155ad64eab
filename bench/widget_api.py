"""Benchmark: the widget loading a conversation's latest 50 texts over HTTP, against the same SQL run raw.

Target (issue 7): `GET /api/v1/conversations/<id>/messages/` (the first page: the latest 50) answers with p99
under 15 ms, with 1,000,000 messages across 1,000 studios in the database, reported beside a raw SQL baseline
of the same query measured in the same run.

The database (10 organizations x 100 studios, a number and a staff member per studio, a manager per
organization, 40 conversations per studio with their contacts, 1,000,000 texts heavy-tailed across the
conversations: most threads short, a few thousand texts long; `bench/widget_seed.py`) is seeded with COPY
(psycopg 3) plus one set-based INSERT ... SELECT for the texts, and kept between runs under a key of every
migration file and the seed's shape (`--reseed` rebuilds it). Sessions are made fresh each run by signing in
with Django's test client.

1. In-process capture: each sampled request runs once through Django's test client under CaptureQueriesContext,
   which checks its answer and records every SQL statement it sent (the count per request is reported).
2. Baseline: the messages query exactly as the API sent it (the captured SQL), run with psycopg in a loop; and,
   for scale, every captured statement of a request replayed as sent (its BEGIN and COMMIT included, if any).
3. The product: gunicorn with the Procfile's `web` line (gthread, 2 workers x 4 threads, DEBUG off, whitenoise,
   every middleware, JSON logs, PostgreSQL, Redis cache) and an open-loop client at a fixed rate over a few
   keep-alive connections; latency counts from each request's scheduled send time (no coordinated omission).
   Half the threads asked for have a full page of 50 texts; half the requests are the organization's manager's,
   half the studio's own staff member's. Each request's service time (first byte written to last byte read) is
   reported too: on an overloaded machine the from-schedule figures measure the backlog instead.

    python -m bench.widget_api [--rate 100] [--duration 20] [--sample 1000] [--reseed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The seeded database; Django-free, so its DSN can go into the environment below before Django is imported.
from bench.widget_seed import (
    CONVERSATIONS_PER_STUDIO,
    DATABASE,
    DSN,
    LONGEST_THREAD,
    MESSAGES,
    ORGANIZATIONS,
    ROOT,
    STUDIOS_PER_ORGANIZATION,
    seed,
    seed_key,
    stored_seed_key,
)

RESULTS = ROOT / "bench" / "results" / "widget_api.txt"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
os.environ.update(
    DJANGO_SETTINGS_MODULE="config.settings.base",
    DEBUG="false",
    DATABASE_URL=DSN.replace("postgresql://", "postgres://"),
    REDIS_URL=REDIS_URL,
    ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
    LOG_LEVEL="WARNING",  # the in-process capture; gunicorn logs at INFO like production
    PUBLIC_BASE_URL="https://leadline.bench.test",
)
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtZmllbGQtZW5jcnlwdGlvbi1rZXktMDAwMDA=")
os.environ.pop("SENTRY_DSN", None)

import psycopg  # noqa: E402

import django  # noqa: E402

from bench.inbound_webhook import Server, free_port  # noqa: E402

PAGE = 50
TARGET_P99_MS = 15.0
MEASURED_ORGANIZATION = 1


# --- the requests --------------------------------------------------------------------------------------------------
@dataclass
class Request:
    path: str
    cookie: str
    role: str
    rows: int  # texts on the first page (the thread's length, at most PAGE)
    queries: list[str]  # every statement the API sent for it, as sent


def sign_in(user_id: int) -> str:
    """A real session for the user, made by logging in once with Django's test client."""
    from django.conf import settings
    from django.test import Client

    from core.models import User

    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def sample_requests(count: int, rng: random.Random) -> list[Request]:
    """Threads of the measured organization (half with a full page), each asked for by its manager or its studio's
    staff member in turn;
    every one runs once in-process under CaptureQueriesContext, which checks the answer and records its SQL."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from messaging.models import Conversation

    threads = list(
        Conversation.objects.unscoped()  # the bench picks threads of one tenant it seeded itself
        .filter(organization_id=MEASURED_ORGANIZATION)
        .values_list("pk", "studio_id")
    )
    lengths = dict(
        Conversation.objects.unscoped()
        .filter(organization_id=MEASURED_ORGANIZATION)
        .annotate(n=Count("messages"))
        .values_list("pk", "n")
    )
    # Half of them long enough for a full page of PAGE texts, half from the rest (most threads are short).
    full = [t for t in threads if lengths[t[0]] >= PAGE]
    short = [t for t in threads if lengths[t[0]] < PAGE]
    chosen = rng.sample(full, min(count // 2, len(full)))
    chosen += rng.sample(short, min(count - len(chosen), len(short)))
    rng.shuffle(chosen)
    cookies = {MEASURED_ORGANIZATION: sign_in(MEASURED_ORGANIZATION)}
    for _, studio in chosen:
        if 1000 + studio not in cookies:
            cookies[1000 + studio] = sign_in(1000 + studio)
    requests = []
    for i, (pk, studio) in enumerate(chosen):
        who = MEASURED_ORGANIZATION if i % 2 == 0 else 1000 + studio
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookies[who]
        path = f"/api/v1/conversations/{pk}/messages/"
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
        rows = len(response.json()["results"])
        if rows != min(PAGE, lengths[pk]):
            raise RuntimeError(f"{path} answered {rows} texts, expected {min(PAGE, lengths[pk])}")
        requests.append(
            Request(
                path=path,
                cookie=cookies[who],
                role="manager" if who == MEASURED_ORGANIZATION else "staff",
                rows=rows,
                queries=[q["sql"] for q in captured.captured_queries],
            )
        )
    return requests


def messages_query(request: Request) -> str:
    (sql,) = [q for q in request.queries if "FROM messaging_message" in q.replace('"', "")]
    return sql


# --- measurements --------------------------------------------------------------------------------------------------
@dataclass
class Percentiles:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Percentiles:
        ordered = sorted(seconds)

        def at(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

        return cls(len(ordered), statistics.median(ordered) * 1000, at(0.95), at(0.99), ordered[-1] * 1000)

    def row(self, name: str) -> str:
        return (
            f"{name:<44}{self.count:>7}{self.p50_ms:>10.2f}{self.p95_ms:>10.2f}{self.p99_ms:>10.2f}{self.max_ms:>10.1f}"
        )


def raw_sql(requests: list[Request], *, passes: int, whole_request: bool, prepared: bool = False) -> Percentiles:
    """The API's own SQL with psycopg, no Django: the messages query alone, or every statement the request sent
    (BEGIN and COMMIT included, if it sent them), in order, each as sent. `prepared`: the messages query as a
    prepared statement, planned on a first pass that is not timed (what the query costs without its planning,
    which Django's unprepared statements pay on every request)."""
    timings = []
    with psycopg.connect(DSN, autocommit=True) as conn:
        # Client-side binding, as Django's backend sends them; psycopg prepares only on its server-side cursors.
        cur = conn.cursor() if prepared else psycopg.ClientCursor(conn)
        if prepared:
            conn.prepared_max = len(requests)
            for request in requests:
                cur.execute(messages_query(request), prepare=True).fetchall()
        for _ in range(passes):
            for request in requests:
                statements = request.queries if whole_request else [messages_query(request)]
                started = time.perf_counter()
                for sql in statements:
                    cur.execute(sql, prepare=prepared or None)
                    if cur.description is not None:
                        cur.fetchall()
                timings.append(time.perf_counter() - started)
    return Percentiles.of(timings)


@dataclass
class Sample:
    request: Request
    from_schedule: float  # what a caller waits: from the scheduled send (queueing for a connection included)
    service: float  # from the request's first byte written to its last byte read


async def open_loop(port: int, requests: list[Request], *, rate: float, count: int, connections: int):
    """GET each request on schedule (`rate` per second) over `connections` keep-alive connections. Returns the
    samples, the failures and the rate achieved."""
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    samples: list[Sample] = []
    failures: list[str] = []
    start = loop.time() + 0.3

    async def one(i: int) -> None:
        request = requests[i % len(requests)]
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        reader, writer = await pool.get()
        sent = loop.time()
        try:
            writer.write(
                f"GET {request.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                f"Cookie: sessionid={request.cookie}\r\nAccept: application/json\r\n\r\n".encode()
            )
            await writer.drain()
            status, body, close = await read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            failures.append(f"{request.path}: {exc!r}")
            writer.close()
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
            return
        done = loop.time()
        if close:
            writer.close()
            pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
        else:
            pool.put_nowait((reader, writer))
        if status != 200 or len(json.loads(body)["results"]) != request.rows:
            failures.append(f"{request.path}: {status} {body[:200]!r}")
            return
        samples.append(Sample(request, done - scheduled, done - sent))

    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = loop.time() - start
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return samples, failures, count / elapsed


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status, length, close = int(lines[0].split()[1]), 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    return status, await reader.readexactly(length), close


# --- the run -------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second, open loop")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured at that rate")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--sample", type=int, default=1000, help="distinct conversations requested")
    parser.add_argument("--reseed", action="store_true", help="rebuild the seeded database even if it is current")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the report is written")
    args = parser.parse_args()
    django.setup()

    key = seed_key()
    if args.reseed or stored_seed_key() != key:
        print(f"seeding {DATABASE} (key {key}): {MESSAGES:,} messages ...", flush=True)
        seeded = f"seeded in {seed():.0f} s"
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)  # other apps' new migrations, if any
        seeded = "reused (seed key unchanged; --reseed rebuilds it)"
    print(f"database {DATABASE}: {seeded}", flush=True)

    from django.db import connection

    from messaging.models import Message

    rng = random.Random(11)  # noqa: S311 - test data
    connection.ensure_connection()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM django_session")  # the previous runs' sessions
    started = time.perf_counter()
    requests = sample_requests(args.sample, rng)
    print(f"captured {len(requests)} requests in-process in {time.perf_counter() - started:.1f} s", flush=True)
    stored = Message.objects.unscoped().count()  # the bench counts every tenant's texts it seeded
    connection.close()

    query_counts = sorted({sum(1 for q in r.queries if q not in ("BEGIN", "COMMIT")) for r in requests})
    full_pages = sum(1 for r in requests if r.rows == PAGE)
    transactional = any("BEGIN" in r.queries for r in requests)
    raw_sql(requests, passes=1, whole_request=False)  # warm the caches both measurements share
    baseline = raw_sql(requests, passes=3, whole_request=False)
    unplanned = raw_sql(requests, passes=3, whole_request=False, prepared=True)
    replay = raw_sql(requests, passes=1, whole_request=True)
    print(f"baseline: messages query p99 {baseline.p99_ms:.2f} ms; all statements p99 {replay.p99_ms:.2f} ms")

    port = free_port()
    env = dict(os.environ, PORT=str(port), LOG_LEVEL="INFO", LOG_FORMAT="json", PYTHONPATH=str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="bench-widget-"))
    count = int(args.rate * args.duration)
    with Server(env, port, workdir / "gunicorn.log") as server:
        print(f"gunicorn: {' '.join(server.command()[1:])}", flush=True)
        warm_count = min(count, 400)
        warm = asyncio.run(open_loop(port, requests, rate=args.rate, count=warm_count, connections=args.connections))
        samples, failures, achieved = asyncio.run(
            open_loop(port, requests, rate=args.rate, count=count, connections=args.connections)
        )
    if warm[1] or failures:
        print("\n".join((warm[1] + failures)[:10]))
        print(f"kept {workdir} (gunicorn.log)")
        sys.exit(f"{len(warm[1]) + len(failures)} requests failed")
    shutil.rmtree(workdir, ignore_errors=True)

    def of(which: str, keep=lambda sample: True) -> Percentiles:
        return Percentiles.of([getattr(x, which) for x in samples if keep(x)])

    product, service = of("from_schedule"), of("service")
    met = product.p99_ms < TARGET_P99_MS
    sustained = achieved >= 0.95 * args.rate
    sample_query = messages_query(next(r for r in requests if r.role == "staff"))
    lines = [
        "Widget API: GET /api/v1/conversations/<id>/messages/ (the latest 50) under gunicorn (Procfile web: "
        "gthread, 2 workers x 4 threads), DEBUG off, PostgreSQL, Redis cache",
        f"machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.2f} (shared, noisy)",
        f"data: {stored:,} messages, {ORGANIZATIONS} organizations x {STUDIOS_PER_ORGANIZATION} studios, "
        f"{ORGANIZATIONS * STUDIOS_PER_ORGANIZATION * CONVERSATIONS_PER_STUDIO:,} conversations (heavy-tailed: "
        f"1 to {LONGEST_THREAD:,} texts); database {seeded}",
        f"requests: {len(requests)} distinct conversations of one organization, {full_pages} of them with a full "
        f"page of {PAGE}; half by the manager, half by the studio's staff member; session cookie, keep-alive",
        f"SQL queries per request (captured in-process): {' or '.join(map(str, query_counts))}, "
        + ("plus BEGIN and COMMIT (ATOMIC_REQUESTS)" if transactional else "in autocommit (no BEGIN or COMMIT)"),
        f"load: open loop at {args.rate:g} req/s for {args.duration:g} s over {args.connections} connections "
        f"(achieved {achieved:.1f} req/s); warm-up {warm_count} requests not counted",
        "latency: from each request's scheduled send time (no coordinated omission); 'service': from its first "
        "byte written to its last byte read",
        "baseline: the API's messages query as it sent it (captured), psycopg in a loop, autocommit; "
        "'all statements': every statement of the request replayed as sent",
        "",
        f"{'':<44}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}",
        baseline.row("baseline: messages query alone (raw SQL)"),
        unplanned.row("  the same, prepared (no planning)"),
        replay.row("all statements of a request (raw SQL)"),
        product.row("product over HTTP"),
        of("from_schedule", lambda x: x.request.rows == PAGE).row(f"  full pages of {PAGE}"),
        of("from_schedule", lambda x: x.request.role == "manager").row("  as the manager"),
        of("from_schedule", lambda x: x.request.role == "staff").row("  as the studio's staff member"),
        service.row("product over HTTP, service time"),
        "",
        f"product p99 / baseline p99: {product.p99_ms / baseline.p99_ms:.1f}x "
        f"(p50: {product.p50_ms / baseline.p50_ms:.1f}x; service p99: {service.p99_ms / baseline.p99_ms:.1f}x)",
        f"target p99 < {TARGET_P99_MS:g} ms over HTTP: {'MET' if met else 'NOT met'} ({product.p99_ms:.2f} ms)",
    ]
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        lines.append(
            "the load average exceeded the cores: other work shared the machine, so the absolute figures are "
            "inflated; run it on a quiet machine for the target"
        )
    if not sustained:
        lines.append(
            f"the machine did not sustain {args.rate:g} req/s (achieved {achieved:.1f}): requests queued, so the "
            "from-schedule figures measure the backlog; service time is the per-request cost on this machine"
        )
    lines += [
        f"checks: {product.count} answered 200 with the expected number of texts, 0 failures",
        "",
        "the messages query (staff member), as the API sent it:",
        f"  {sample_query}",
    ]
    report = "\n".join(lines) + "\n"
    print()
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
