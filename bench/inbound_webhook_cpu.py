"""`python -m bench.inbound_webhook --cpu N [--profile]`: CPU per request of the product's inbound Twilio webhook and
of the baseline (the minimal view), in one process: no server, no client, the same WSGI application as the benchmark
(`bench.webhook_baseline.wsgi`), time.process_time over N requests of each kind, interleaved in blocks so they share
the machine's noise. The cheapest way to see where a change lands; cProfile's top functions with --profile.
"""

from __future__ import annotations

import os
import sys
import time

from bench.inbound_webhook import (
    BASELINE_PATH,
    PRODUCT_PATH,
    bench_env,
    database_create,
    database_drop,
    free_port,
    migrate_and_seed,
    redis_client,
    signed_requests,
)


def wsgi_environ(path: str, signature: str, body: str) -> dict:
    import io

    data = body.encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(data)),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_TWILIO_SIGNATURE": signature,
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "https",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def cpu_main(count: int, *, profile: bool) -> None:
    """CPU per request of the product and the baseline in this process (the log lines go to /dev/null)."""
    env = bench_env(free_port())
    database_create()
    redis = redis_client()
    redis.flushdb()
    try:
        migrate_and_seed(env)
        os.environ.update(env)
        # The JSON log lines go nowhere (the handler takes sys.stderr when Django sets logging up); stdout reports.
        sys.stderr = open(os.devnull, "w")
        from bench.webhook_baseline.wsgi import application

        product = [wsgi_environ(PRODUCT_PATH, *item) for item in signed_requests(count + 200, start=0)]
        baseline = [wsgi_environ(BASELINE_PATH, *item) for item in signed_requests(count + 200, start=10_000_000)]

        statuses: list[str] = []

        def start_response(status, headers, exc_info=None):
            statuses.append(status)

        def serve(environs: list[dict]) -> float:
            started = time.process_time()
            for environ in environs:
                b"".join(application(environ, start_response))
            elapsed = time.process_time() - started
            if any(not status.startswith("200") for status in statuses):
                raise SystemExit(f"not every request answered 200: {sorted(set(statuses))}")
            statuses.clear()
            return elapsed

        serve(product[:200]), serve(baseline[:200])  # warm-up: imports, connections, first queries
        product, baseline = product[200:], baseline[200:]
        spent = {"product": 0.0, "baseline": 0.0}
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU, not the waits for PostgreSQL and Redis
        block = max(count // 10, 1)
        for start in range(0, count, block):
            spent["baseline"] += serve(baseline[start : start + block])
            if profiler:
                profiler.enable()
            spent["product"] += serve(product[start : start + block])
            if profiler:
                profiler.disable()
        per = {name: total / count * 1e6 for name, total in spent.items()}
        print(
            f"CPU per request over {count:,} each: product {per['product']:.0f} us, baseline {per['baseline']:.0f} us, "
            f"ratio baseline/product {per['baseline'] / per['product']:.2f} (load average {os.getloadavg()[0]:.1f})"
        )
        if profiler:
            import pstats

            pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(45)
    finally:
        redis.flushdb()
        database_drop()
