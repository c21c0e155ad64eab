"""Benchmark: Twilio's inbound webhook under gunicorn, against a minimal Django view measured in the same run.

The product (`config.wsgi`, the real `POST /webhooks/twilio/sms/`: signature check with the number's account token
→ InboundEvent under its MessageSid → Celery task published to Redis on commit → empty TwiML) and the baseline
(`bench.webhook_baseline`: a minimal Django view served with no middleware at all, the floor; it parses the same
form body and inserts one row) are served by one gunicorn started with the Procfile's `web` line (gthread, 2
workers x 4 threads; the application `bench.webhook_baseline.wsgi`, which hands every other path to the product's
own), on PostgreSQL (its own database, migrated here and dropped after) and Redis db 11 (flushed after; no worker
runs, so the published tasks just wait there).

Every request is a genuine Twilio webhook: a full C1 parameter set with a unique MessageSid, signed with twilio's
RequestValidator over PUBLIC_BASE_URL + path, precomputed before the clock starts.

Phase 1, throughput: wrk (closed loop, N connections), product and baseline alternating so they share the noise.
Phase 2, latency at a fixed rate: an open-loop asyncio client sends R requests/s on schedule; latency is measured
from the scheduled send time (so a stall is not hidden by the client waiting: no coordinated omission).

    python -m bench.inbound_webhook [--duration 12] [--connections 16] [--rounds 2] [--rate 200] [--rate-duration 15]

`--cpu N` measures instead the CPU per request in one process (no server, no client: N requests of each kind through
the same WSGI application, time.process_time, interleaved in blocks), the cheapest way to see where a change lands;
`--profile` adds cProfile's top functions for the product's requests.

Targets (the issues): product throughput ≥ 80% of the baseline's; product p99 < 50 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.loadgen import Throughput, open_loop, wrk_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "inbound_webhook.txt"
DATABASE = os.environ.get("BENCH_WEB_DATABASE", "leadline_bench_web")
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
PUBLIC_BASE_URL = "https://leadline.bench.test"
PRODUCT_PATH = "/webhooks/twilio/sms/"
BASELINE_PATH = "/bench/baseline/webhook/"
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"  # noqa: S105 - a local test tenant
OUR_NUMBERS = ["+14155552001", "+14155552002", "+14155552003"]  # two studios' own numbers and a shared one
PHONES = [f"+1415556{n:04d}" for n in range(50)]
TARGET_RATIO = 0.80
TARGET_P99_MS = 50.0


# --- set-up ----------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings_web",
        DEBUG="false",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        REDIS_URL=REDIS_URL,
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="true",
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        PORT=str(port),
        PYTHONPATH=str(ROOT),
    )
    env.pop("SENTRY_DSN", None)
    return env


def database_create() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def database_drop() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def migrate_and_seed(env: dict[str, str]) -> None:
    """Migrate in a child process (clean Django state), then create the tenant the webhooks are for."""
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603 - our own fixed commands
    subprocess.run([python, "manage.py", "createcachetable"], cwd=ROOT, env=env, check=True)  # noqa: S603 - our own fixed commands
    seed = f"""
from studios.models import Organization, PhoneNumber, ProviderAccount, Studio
org = Organization.unscoped_objects.create(slug="bench", name="Bench Fitness")
a = Studio.unscoped_objects.create(organization=org, slug="a", name="A", time_zone="America/New_York")
b = Studio.unscoped_objects.create(organization=org, slug="b", name="B", time_zone="America/New_York")
account = ProviderAccount.unscoped_objects.create(organization=org, name="bench-twilio", kind="twilio",
    is_default=True, account_sid={ACCOUNT_SID!r}, auth_token={AUTH_TOKEN!r}, api_base_url="http://127.0.0.1:9")
for number, studio in zip({OUR_NUMBERS!r}, (a, b, None)):
    PhoneNumber.unscoped_objects.create(organization=org, number=number, provider="twilio", account=account,
        studio=studio)
"""
    subprocess.run([python, "manage.py", "shell", "-c", seed], cwd=ROOT, env=env, check=True)  # noqa: S603 - our own fixed commands


def signed_requests(count: int, start: int) -> list[tuple[str, str]]:
    """`count` genuine inbound-text webhooks (unique MessageSids from `start`): (signature, form body)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    url = PUBLIC_BASE_URL + PRODUCT_PATH
    out = []
    for i in range(start, start + count):
        sid = f"SM{i:032x}"
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "SAN FRANCISCO",
            "FromZip": "94107",
            "SmsSid": sid,
            "FromState": "CA",
            "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO",
            "Body": f"Hi, is the 6pm class on today? ({i})",
            "FromCountry": "US",
            "To": OUR_NUMBERS[i % len(OUR_NUMBERS)],
            "ToZip": "94105",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": PHONES[i % len(PHONES)],
            "ApiVersion": "2010-04-01",
        }
        out.append((validator.compute_signature(url, params), urlencode(params)))
    return out


class Server:
    """gunicorn with the Procfile's `web` command, bound to loopback."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, max_requests: int | None = None):
        self.env, self.port, self.log_path, self.max_requests = env, port, log_path, max_requests
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        line = next(li for li in (ROOT / "Procfile").read_text().splitlines() if li.startswith("web:"))
        line = line.split(":", 1)[1].strip()
        line = line.replace("${PORT:-8000}", str(self.port))
        line = line.replace("${WEB_CONCURRENCY:-2}", self.env.get("WEB_CONCURRENCY", "2"))
        line = line.replace("${WEB_THREADS:-4}", self.env.get("WEB_THREADS", "4"))
        argv = shlex.split(line)
        argv[0] = str(Path(sys.executable).parent / "gunicorn")
        # The product's application for every path, the baseline's path served with no middleware (see there).
        argv[argv.index("config.wsgi")] = "bench.webhook_baseline.wsgi"
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{self.port}"
        if self.max_requests is not None:  # a diagnostic: how much of the tail is worker recycling
            argv[argv.index("--max-requests") + 1] = str(self.max_requests)
        return argv

    def worker_boots(self) -> int:
        """Workers started so far (2 at start; each --max-requests recycling adds one)."""
        self.log.flush()
        return self.log_path.read_bytes().count(b"Booting worker")

    def __enter__(self) -> Server:
        self.log = open(self.log_path, "wb")  # closed in __exit__
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)  # noqa: S603 - our own fixed commands
        deadline = time.monotonic() + 30
        import requests

        while time.monotonic() < deadline:
            try:
                url, proto = f"http://127.0.0.1:{self.port}/healthz", {"X-Forwarded-Proto": "https"}
                r = requests.get(url, headers=proto, timeout=2)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- phase 1: closed loop with wrk -------------------------------------------------------------------------------
def db_counts() -> tuple[int, int]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DATABASE}") as conn:
        events = conn.execute("SELECT count(*) FROM core_inboundevent WHERE source = 'twilio.sms'").fetchone()[0]
        hits = conn.execute("SELECT count(*) FROM webhook_baseline_baselinehit").fetchone()[0]
    return events, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=12, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="product/baseline pairs of wrk runs")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-duration", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true", help="keep the database and the gunicorn log")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the table is written")
    parser.add_argument(
        "--max-requests", type=int, default=None, help="override the Procfile's --max-requests (0: never recycle)"
    )
    parser.add_argument("--cpu", type=int, default=0, help="CPU per request in one process, N requests of each kind")
    parser.add_argument("--profile", action="store_true", help="with --cpu: cProfile the product's requests")
    args = parser.parse_args()
    if args.cpu:
        from bench.inbound_webhook_cpu import cpu_main

        return cpu_main(args.cpu, profile=args.profile)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for the throughput phase: apt-get install -y wrk")

    port = free_port()
    env = bench_env(port)
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    capacity = 3000 * args.duration  # per wrk run: more than this machine can serve, so nothing wraps
    warm = 3000
    print(f"preparing: database {DATABASE}, redis {REDIS_URL}, {args.rounds} rounds x 2 x {args.duration} s")
    database_create()
    redis = redis_client()
    redis.flushdb()
    lines: list[str] = []
    failed = True
    try:
        migrate_and_seed(env)
        started = time.perf_counter()
        total = warm + args.rounds * capacity + int(args.rate * args.rate_duration) + 100
        items = signed_requests(total, start=0)
        print(f"signed {len(items):,} unique webhooks in {time.perf_counter() - started:.1f} s", flush=True)
        cursor = 0

        def take(n: int) -> list[tuple[str, str]]:
            nonlocal cursor
            chunk = items[cursor : cursor + n]
            cursor += n
            return chunk

        baseline_items = signed_requests(capacity, start=10_000_000)  # same shape; the baseline does not verify
        with Server(env, port, workdir / "gunicorn.log", max_requests=args.max_requests) as server:
            print(f"gunicorn: {' '.join(server.command()[1:])}", flush=True)
            # Warm-up: imports, connections, the first queries of each thread.
            wrk_run(
                port=port, path=PRODUCT_PATH, items=take(warm), workdir=workdir, tag="warm", connections=16, duration=2
            )
            wrk_run(
                port=port,
                path=BASELINE_PATH,
                items=baseline_items[:warm],
                workdir=workdir,
                tag="warmb",
                connections=16,
                duration=2,
            )
            events_before, _ = db_counts()
            boots_start = server.worker_boots()
            product_runs: list[Throughput] = []
            baseline_runs: list[Throughput] = []
            for r in range(args.rounds):
                order = [("product", PRODUCT_PATH), ("baseline", BASELINE_PATH)]
                if r % 2:
                    order.reverse()
                for name, path in order:
                    chunk = take(capacity) if name == "product" else baseline_items
                    result = wrk_run(
                        port=port,
                        path=path,
                        items=chunk,
                        workdir=workdir,
                        tag=f"{name}{r}",
                        connections=args.connections,
                        duration=args.duration,
                    )
                    (product_runs if name == "product" else baseline_runs).append(result)
                    print(
                        f"  round {r + 1} {name:<8} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                        f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}  wrapped {result.wrapped}",
                        flush=True,
                    )
            events_after, _ = db_counts()
            product_stored = events_after - events_before
            product_requests = sum(r.requests for r in product_runs)

            async def rate_phase():
                results = {}
                for name, path, chunk in (
                    ("baseline", BASELINE_PATH, baseline_items),
                    ("product", PRODUCT_PATH, take(int(args.rate * args.rate_duration))),
                ):
                    results[name] = await open_loop(
                        port=port, path=path, items=chunk, rate=args.rate, duration=args.rate_duration
                    )
                    lat = results[name]
                    print(
                        f"  {args.rate:.0f} req/s {name:<8} p50 {lat.p50_ms:6.2f} ms  p99 {lat.p99_ms:6.2f} ms  "
                        f"max {lat.max_ms:6.1f} ms  ok {lat.ok}/{lat.sent}",
                        flush=True,
                    )
                return results

            boots_phase1 = server.worker_boots()
            latency = asyncio.run(rate_phase())
            boots_phase2 = server.worker_boots()
        published = redis.llen("default")

        def med(runs: list[Throughput], attr: str) -> float:
            return statistics.median(getattr(r, attr) for r in runs)

        p_rps, b_rps = med(product_runs, "rps"), med(baseline_runs, "rps")
        ratio = p_rps / b_rps
        lp, lb = latency["product"], latency["baseline"]
        ratio_ok, p99_ok = ratio >= TARGET_RATIO, lp.p99_ms < TARGET_P99_MS
        errors = sum(r.errors for r in product_runs + baseline_runs)
        lines = [
            "Inbound Twilio webhook under gunicorn (Procfile web: gthread, 2 workers x 4 threads), PostgreSQL, Redis",
            f"machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.2f} (shared, noisy)",
            "baseline: minimal Django view with no middleware, same gunicorn and database, inserts one row; "
            "product: verify signature -> InboundEvent -> enqueue on commit (Redis) -> empty TwiML",
            f"phase 1: wrk closed loop, {args.connections} connections, {args.rounds} x {args.duration} s each, "
            f"alternating; medians of the runs",
            f"phase 2: open loop at {args.rate:.0f} req/s for {args.rate_duration:.0f} s, latency from scheduled "
            f"send time",
            "",
            f"{'':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'@rate p50':>11}{'@rate p99':>11}{'@rate max':>11}",
            f"{'baseline':<22}{b_rps:>9.0f}{med(baseline_runs, 'p50_ms'):>9.2f}{med(baseline_runs, 'p99_ms'):>9.2f}"
            f"{lb.p50_ms:>11.2f}{lb.p99_ms:>11.2f}{lb.max_ms:>11.1f}",
            f"{'product':<22}{p_rps:>9.0f}{med(product_runs, 'p50_ms'):>9.2f}{med(product_runs, 'p99_ms'):>9.2f}"
            f"{lp.p50_ms:>11.2f}{lp.p99_ms:>11.2f}{lp.max_ms:>11.1f}",
            "",
            f"runs (req/s): product {', '.join(f'{r.rps:.0f}' for r in product_runs)}; "
            f"baseline {', '.join(f'{r.rps:.0f}' for r in baseline_runs)}",
            f"throughput ratio product/baseline: {ratio:.2f}  (target >= {TARGET_RATIO:.2f}: "
            f"{'met' if ratio_ok else 'NOT met'})",
            f"product p99 at {args.rate:.0f} req/s: {lp.p99_ms:.1f} ms  (target < {TARGET_P99_MS:.0f} ms: "
            f"{'met' if p99_ok else 'NOT met'}); achieved {lp.achieved_rps:.0f} req/s, {lp.ok}/{lp.sent} answered 200",
            f"checks: {errors} wrk errors/non-2xx; product requests in phase 1 {product_requests:,}, InboundEvents "
            f"stored {product_stored:,}; tasks published to Redis {published:,}; "
            f"wrapped (re-sent) {sum(r.wrapped for r in product_runs)}",
            f"gunicorn workers recycled (--max-requests): {boots_phase1 - boots_start} in phase 1, "
            f"{boots_phase2 - boots_phase1} in phase 2"
            + (f" (max-requests overridden: {args.max_requests})" if args.max_requests is not None else ""),
        ]
        report = "\n".join(lines) + "\n"
        print()
        print(report)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report)
        print(f"written to {args.output}")
        failed = False
    finally:
        try:
            redis.flushdb()
        except Exception as exc:  # the report matters more than the clean-up
            print(f"could not flush redis: {exc}")
        if args.keep or failed:
            print(f"kept database {DATABASE} and {workdir} (gunicorn.log)")
        else:
            database_drop()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
