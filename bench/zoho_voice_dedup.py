"""Benchmark: Zoho Voice dedup of 10k / 100k / 1M SMS logs against 1,000,000 stored messages.

Targets (issue 4): 100,000 logs against 1,000,000 stored messages in under 10 s, and time growing linearly with
the input. Each size runs on a fresh copy of the same seeded database (CREATE DATABASE ... TEMPLATE), through
the product's own code: `log_parse` of Zoho-shaped log dicts, then `zoho_voice_logs_ingest` (set-based, in
transactions of 5,000 logs: COPY, match by log id, ±5 minute match, forward-only statuses, contacts,
conversations, INSERT ... ON CONFLICT). The logs are 40% already stored (matched by log id; half of those move
a status), 10% sends whose answer was lost (matched by numbers, direction, text and time), 50% new inbound
texts (a tenth of them from phones never seen).

The baseline, measured in the same run on the same fresh copy, is the least any dedup of these logs must do:
COPY each batch into a temporary table and probe the unique log-id index once per log (psycopg, no Django).

    python -m bench.zoho_voice_dedup [--stored 1000000] [--sizes 10000,100000,1000000] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtZmllbGQtZW5jcnlwdGlvbi1rZXktMDAwMDA=")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")
ADMIN_DSN = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_ZV_DATABASE", "leadline_bench_zv")
TEMPLATE = f"{DATABASE}_seed"
os.environ["DATABASE_URL"] = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgres://") + f"/{DATABASE}"
os.environ.pop("REDIS_URL", None)  # the dedup touches no cache; nothing of the bench lands in a shared Redis
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import psycopg  # noqa: E402

import django  # noqa: E402

OUR_NUMBER = "+14155550103"
CONTACTS = 50_000
BATCH = 5_000
RESULTS = Path(__file__).parent / "results" / "zoho_voice_dedup.txt"
TARGET_SECONDS = 10.0
# Seeded message kinds by i % 20: 0-7 outbound with a log id, 8-15 inbound with a log id, 16-17 Zoho Voice sends
# whose answer was lost (no log id yet), 18-19 Twilio texts (outside the partial index).
SEED_SQL = """
INSERT INTO messaging_message (
    created_at, updated_at, organization_id, studio_id, conversation_id, contact_id, phone_number_id, direction,
    body, from_number, to_number, provider, provider_message_id, provider_log_id, status, error_code,
    error_message, segments, encoding, on_behalf_of_studio, failed_over_from, attempts, next_attempt_at,
    occurred_at, delivered_at, kind, sent_by_id)
SELECT at, at, %(org)s, %(studio)s, s.conversation_id, s.contact_id, %(number)s,
    CASE WHEN k BETWEEN 8 AND 15 THEN 'inbound' ELSE 'outbound' END,
    'Hi there, your class #' || (i %% 997) || ' is at ' || (i %% 12 + 1) || 'pm',
    CASE WHEN k BETWEEN 8 AND 15 THEN s.phone ELSE %(ours)s END,
    CASE WHEN k BETWEEN 8 AND 15 THEN %(ours)s ELSE s.phone END,
    CASE WHEN k >= 18 THEN 'twilio' ELSE 'zoho_voice' END,
    CASE WHEN k >= 18 THEN 'SM' || md5('tw' || i) WHEN k >= 16 THEN NULL ELSE md5('log' || i)::uuid::text END,
    CASE WHEN k >= 16 THEN NULL ELSE md5('log' || i)::uuid::text END,
    CASE WHEN k BETWEEN 8 AND 15 THEN 'received' WHEN k BETWEEN 16 AND 17 THEN 'pending'
         WHEN k %% 2 = 0 THEN 'accepted' ELSE 'delivered' END,
    '', '', 1, 'GSM-7', false, '', 1, NULL, at, NULL, 'manual', NULL
FROM (SELECT i, i %% 20 AS k, %(base)s::timestamptz - i * interval '2.5 seconds' AS at
      FROM generate_series(0, %(stored)s - 1) i) g
JOIN seed_contacts s ON s.idx = g.i %% %(contacts)s
"""


def contact_phone(idx: int) -> str:
    return f"+1628{idx:07d}"


def spaced(number: str) -> str:
    return f"+1 {number[2:]}"


def seeded(i: int, base: datetime) -> dict:
    """The stored message number i, as SEED_SQL made it."""
    k = i % 20
    inbound = 8 <= k <= 15
    return {
        "kind": k,
        "inbound": inbound,
        "body": f"Hi there, your class #{i % 997} is at {i % 12 + 1}pm",
        "customer": contact_phone(i % CONTACTS),
        "at": base - timedelta(seconds=i * 2.5),
        "log_id": str(uuid.UUID(hex=hashlib.md5(f"log{i}".encode()).hexdigest())),  # noqa: S324 (as SEED_SQL)
    }


def raw_log(*, log_id: str, inbound: bool, customer: str, body: str, at: datetime, status: str) -> dict:
    """A log as Zoho Voice's /sms/logs answers it (every field of the documented sample)."""
    return {
        "logid": log_id,
        "messageId": log_id,
        "country": "us",
        "multipartCount": 1,
        "submittedTime": int(at.timestamp() * 1000),
        "sentTime": at.strftime("%Y-%m-%d %H:%M"),
        "isBlocked": False,
        "isMMS": False,
        "mmsMeta": [],
        "customerNumber": spaced(customer),
        "customerName": spaced(customer),
        "senderId": spaced(OUR_NUMBER),
        "message": body,
        "messageType": "INCOMING" if inbound else "OUTGOING",
        "status": status,
        "statusDescription": "",
        "userName": "Morgan",
        "email": "manager@demo.leadline.test",
        "emailId": "manager@demo.leadline.test",
        "zuid": 4150868000000225001,
        "zsoid": "10234695",
    }


def make_logs(size: int, *, stored: int, base: datetime, seed: int) -> tuple[list[dict], dict[str, int]]:
    """40% stored (by log id), 10% lost sends (by text and time), 50% new; shuffled, as pages would mix them."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    by_id, fuzzy = size * 4 // 10, size // 10
    new = size - by_id - fuzzy
    with_log = [i for i in range(min(stored, size * 3)) if seeded_kind(i) < 16]
    lost = [i for i in range(stored) if seeded_kind(i) in (16, 17)]
    assert len(with_log) >= by_id, "not enough stored messages with a log id for this size"
    assert len(lost) >= fuzzy, "not enough stored lost sends for this size"
    logs = []
    for i in rng.sample(with_log, by_id):
        m = seeded(i, base)
        status = "RECEIVED" if m["inbound"] else "DELIVERED"
        logs.append(
            raw_log(
                log_id=m["log_id"],
                inbound=m["inbound"],
                customer=m["customer"],
                body=m["body"],
                at=m["at"],
                status=status,
            )
        )
    for i in rng.sample(lost, fuzzy):
        m = seeded(i, base)
        at = m["at"] + timedelta(seconds=rng.uniform(-240, 240))
        logs.append(
            raw_log(
                log_id=str(uuid.UUID(int=rng.getrandbits(128))),
                inbound=False,
                customer=m["customer"],
                body=m["body"],
                at=at,
                status="DELIVERED",
            )
        )
    for n in range(new):
        customer = contact_phone(CONTACTS + n % 5000) if n % 10 == 0 else contact_phone(rng.randrange(CONTACTS))
        at = base + timedelta(seconds=n * 0.01)
        logs.append(
            raw_log(
                log_id=str(uuid.UUID(int=rng.getrandbits(128))),
                inbound=True,
                customer=customer,
                body=f"Can I book the {n % 12 + 1}pm class? ({n})",
                at=at,
                status="RECEIVED",
            )
        )
    rng.shuffle(logs)
    return logs, {"matched_by_log_id": by_id, "matched_by_text": fuzzy, "inserted": new}


def seeded_kind(i: int) -> int:
    return i % 20


# --- databases --------------------------------------------------------------------------------------------------
def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


def fresh_copy() -> None:
    from django.db import connection

    connection.close()
    admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}" TEMPLATE "{TEMPLATE}"')


def seed(stored: int, base: datetime) -> tuple[float, dict]:
    from django.core.management import call_command
    from django.db import connection

    for name in (DATABASE, TEMPLATE):
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DATABASE}"')
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    from studios.models import Organization, PhoneNumber, ProviderAccount, Studio

    org = Organization.objects.create(slug="bench", name="Bench Fitness")
    studio = Studio.unscoped_objects.create(organization=org, slug="harbor", name="Harbor", time_zone="UTC")
    account = ProviderAccount.unscoped_objects.create(
        organization=org,
        name="bench-voice",
        kind="zoho_voice",
        client_id="1000.X",
        client_secret="bench",  # noqa: S106 (never used: the bench calls no Zoho)
        refresh_token="bench",  # noqa: S106
        accounts_url="https://accounts.zoho.com",
        api_base_url="https://voice.zoho.com",
    )
    number = PhoneNumber.unscoped_objects.create(
        organization=org, number=OUR_NUMBER, provider="zoho_voice", account=account, studio=studio
    )
    params = {
        "org": org.pk,
        "studio": studio.pk,
        "number": number.pk,
        "ours": OUR_NUMBER,
        "base": base,
        "stored": stored,
        "contacts": CONTACTS,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_contact (organization_id, phone, name, crm_object, crm_record_id, crm_owner_id, "
            "created_at, updated_at) SELECT %s, '+1628' || lpad(i::text, 7, '0'), '', '', '', '', now(), now() "
            "FROM generate_series(0, %s - 1) i ORDER BY i",
            [org.pk, CONTACTS],
        )
        cursor.execute(
            "INSERT INTO messaging_conversation (organization_id, studio_id, contact_id, last_message_at, "
            "unread_count, needs_attention, attention_reason, created_at, updated_at) "
            "SELECT %s, %s, id, now(), 0, false, '', now(), now() FROM messaging_contact ORDER BY id",
            [org.pk, studio.pk],
        )
        cursor.execute(
            "CREATE TEMP TABLE seed_contacts AS SELECT substr(c.phone, 6)::int AS idx, c.id AS contact_id, c.phone, "
            "v.id AS conversation_id FROM messaging_contact c JOIN messaging_conversation v ON v.contact_id = c.id"
        )
        cursor.execute("CREATE INDEX ON seed_contacts (idx)")
        cursor.execute(SEED_SQL, params)
    connection.close()
    with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute("VACUUM ANALYZE")
    seconds = time.perf_counter() - started
    admin(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE "{DATABASE}"')
    return seconds, {"org": org.pk, "number": number.pk}


# --- the two measurements -----------------------------------------------------------------------------------------
def baseline(logs: list[dict]) -> float:
    """COPY each batch into a temp table and probe the unique log-id index once per log."""
    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for start in range(0, len(logs), BATCH):
            with conn.cursor() as cur:
                cur.execute(
                    "CREATE TEMP TABLE base_logs (log_id text PRIMARY KEY, customer text, body text, "
                    "at timestamptz, kind text) ON COMMIT DROP"
                )
                with cur.copy("COPY base_logs FROM STDIN") as copy:
                    for log in logs[start : start + BATCH]:
                        at = datetime.fromtimestamp(log["submittedTime"] / 1000, tz=UTC)
                        copy.write_row((log["logid"], log["customerNumber"], log["message"], at, log["messageType"]))
                cur.execute("ANALYZE base_logs")
                # One probe of the unique index per log, forced as in the product (LATERAL ... LIMIT 1).
                cur.execute(
                    "SELECT count(x.id) FROM base_logs t CROSS JOIN LATERAL (SELECT m.id FROM messaging_message m "
                    "WHERE m.provider_log_id = t.log_id AND m.provider_log_id IS NOT NULL LIMIT 1) x"
                )
                cur.fetchone()
            conn.commit()
        return time.perf_counter() - started


def dedup(logs: list[dict], number_id: int) -> tuple[float, float, dict]:
    """The product's path: parse every log, then ingest (chunks of 50,000 parsed logs, as many polls would)."""
    from messaging.providers.zoho_voice.logs import IngestResult, log_parse
    from messaging.providers.zoho_voice.poll import zoho_voice_logs_ingest
    from studios.models import PhoneNumber

    number = PhoneNumber.objects.unscoped().select_related("organization", "studio").get(pk=number_id)
    total, parse_seconds = IngestResult(), 0.0
    started = time.perf_counter()
    for start in range(0, len(logs), 50_000):
        t0 = time.perf_counter()
        parsed = [log_parse(raw, our_number=OUR_NUMBER) for raw in logs[start : start + 50_000]]
        parse_seconds += time.perf_counter() - t0
        total.add(zoho_voice_logs_ingest(phone_number=number, logs=[p for p in parsed if p], set_based=True))
    return time.perf_counter() - started, parse_seconds, total.as_dict()


def explain(logs: list[dict], number_id: int) -> dict[str, list[str]]:
    from messaging.providers.zoho_voice.dedup import match_plan_explain
    from messaging.providers.zoho_voice.logs import log_parse
    from studios.models import PhoneNumber

    number = PhoneNumber.objects.unscoped().get(pk=number_id)
    parsed = [p for p in (log_parse(raw, our_number=OUR_NUMBER) for raw in logs[:BATCH]) if p]
    return match_plan_explain(phone_number=number, logs=parsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    django.setup()
    base = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        seed_seconds, ids = seed(args.stored, base)
        out(
            f"Zoho Voice dedup against {args.stored:,} stored messages (seeded in {seed_seconds:.0f} s); "
            f"batches of {BATCH:,} logs per transaction"
        )
        out("logs: 40% stored (by log id), 10% lost sends (±5 min match), 50% new inbound; baseline = COPY of the")
        out("same batches into a temp table + one unique-index probe per log (psycopg), same run, same fresh copy")
        out()
        header = f"{'logs':>10} {'dedup s':>9} {'(parse s)':>10} {'baseline s':>11} {'ratio':>7} {'µs/log':>8}"
        out(header + "  counts (by log id / by text / new / lost race)")
        rows = []
        plans: dict[str, list[str]] = {}
        for size in sizes:
            logs, expected = make_logs(size, stored=args.stored, base=base, seed=size)
            fresh_copy()
            if not plans:
                plans = explain(logs, ids["number"])
            base_s = baseline(logs)
            fresh_copy()
            dedup_s, parse_s, counts = dedup(logs, ids["number"])
            for key, value in expected.items():
                assert counts[key] == value, (size, key, counts[key], value)
            rows.append((size, dedup_s))
            out(
                f"{size:>10,} {dedup_s:>9.2f} {parse_s:>10.2f} {base_s:>11.2f} {dedup_s / base_s:>7.1f} "
                f"{dedup_s / size * 1e6:>8.1f}  {counts['matched_by_log_id']:,} / {counts['matched_by_text']:,} / "
                f"{counts['inserted']:,} / {counts['already_stored']}"
            )
        out()
        for (n1, t1), (n2, t2) in itertools.pairwise(rows):
            exponent = math.log(t2 / t1) / math.log(n2 / n1)
            out(
                f"growth {n1:,} -> {n2:,}: time x{t2 / t1:.1f} for input x{n2 / n1:.0f} "
                f"(exponent {exponent:.2f}; 1.00 = linear)"
            )
        hundred_k = dict(rows).get(100_000)
        if hundred_k is not None:
            verdict = "MET" if hundred_k < TARGET_SECONDS else "NOT MET"
            out(
                f"target 100,000 logs vs {args.stored:,} stored < {TARGET_SECONDS:.0f} s: {verdict} ({hundred_k:.2f} s)"
            )
        if len(rows) > 1:
            exponents = [math.log(t2 / t1) / math.log(n2 / n1) for (n1, t1), (n2, t2) in itertools.pairwise(rows)]
            linear = all(e <= 1.15 for e in exponents)
            out(f"target linear growth (every exponent ≤ 1.15): {'MET' if linear else 'NOT MET'}")
        out()
        out(f"EXPLAIN ANALYZE (one batch of {BATCH:,} logs against {args.stored:,} stored, rolled back):")
        for name, lines_ in plans.items():
            out(f"-- {name}")
            for line in lines_:
                if not line.strip().startswith(("Buffers:", "Planning:")):
                    out("  " + line)
        by_id = any("message_unique_provider_log_id" in line for line in plans["match by log id"])
        fuzzy = any("message_awaiting_provider_log" in line for line in plans["±5 minute candidates"])
        scans = [line for lines_ in plans.values() for line in lines_ if "Seq Scan on messaging_message" in line]
        out(f"log-id match probes message_unique_provider_log_id: {'yes' if by_id else 'NO'}")
        out(f"±5 minute match probes message_awaiting_provider_log: {'yes' if fuzzy else 'NO'}")
        out(f"sequential scans of messaging_message: {len(scans) or 'none'}")
    finally:
        if not args.keep:
            from django.db import connection

            connection.close()
            for name in (DATABASE, TEMPLATE):
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.sizes == "10000,100000,1000000" and args.stored == 1_000_000:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
