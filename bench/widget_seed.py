"""The widget benchmark's database (bench/widget_api.py): 10 organizations x 100 studios, a number and a staff
member per studio, a manager per organization, 40 conversations per studio with their contacts, and 1,000,000
texts heavy-tailed across the conversations, seeded with COPY plus one set-based INSERT ... SELECT.

It is kept between runs under a key of every migration file of the seeded apps and the seed's shape
(`seed_key`, stored as the database's COMMENT). Nothing here imports Django at import time: the benchmark sets
its environment first.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_WIDGET_DATABASE", "leadline_bench_widget")
DSN = ADMIN_DSN.rsplit("/", 1)[0] + f"/{DATABASE}"

ORGANIZATIONS = 10
STUDIOS_PER_ORGANIZATION = 100
CONVERSATIONS_PER_STUDIO = 40
MESSAGES = 1_000_000
LONGEST_THREAD = 3_000
SEED_VERSION = 2  # bump when the seed's shape changes
SEEDED_APPS = ("core", "studios", "messaging")
BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)

MESSAGES_SQL = """
INSERT INTO messaging_message (
    created_at, updated_at, organization_id, studio_id, conversation_id, contact_id, phone_number_id, direction,
    body, from_number, to_number, provider, provider_message_id, provider_log_id, status, error_code,
    error_message, segments, encoding, on_behalf_of_studio, failed_over_from, attempts, next_attempt_at,
    occurred_at, delivered_at, kind, sent_by_id)
SELECT a.at, a.at, t.organization_id, t.studio_id, t.conversation_id, t.contact_id, t.phone_number_id,
    CASE WHEN inbound THEN 'inbound' ELSE 'outbound' END,
    CASE WHEN inbound THEN 'Can I book the ' || (j % 12 + 1) || 'pm class on ' || to_char(a.at, 'Dy') || '?'
         ELSE 'Hi! Yes, the ' || (j % 12 + 1) || 'pm class has spots left. Reply YES to book (#' || j || ').' END,
    CASE WHEN inbound THEN t.phone ELSE t.ours END, CASE WHEN inbound THEN t.ours ELSE t.phone END,
    'twilio', 'SM' || md5(t.conversation_id || ':' || j), NULL,
    CASE WHEN inbound THEN 'received' ELSE 'delivered' END, '', '', 1, 'GSM-7', false, '', 1, NULL,
    a.at, CASE WHEN inbound THEN NULL ELSE a.at + interval '4 seconds' END,
    CASE WHEN inbound THEN 'manual' WHEN j % 5 = 1 THEN 'automated' ELSE 'manual' END,
    CASE WHEN inbound OR j % 5 = 1 THEN NULL ELSE t.staff_id END
FROM seed_threads t
CROSS JOIN LATERAL generate_series(1, t.messages) j
CROSS JOIN LATERAL (SELECT t.last_at - (t.messages - j) * interval '23 minutes' AS at, j % 2 = 0 AS inbound) a
ORDER BY a.at
"""


# --- the seeded database -----------------------------------------------------------------------------------------
def seed_key() -> str:
    """The migrations of the seeded apps and the seed's shape: a change to either means a fresh seed (other apps'
    new migrations are just applied to the kept database)."""
    digest = hashlib.sha256(
        repr((SEED_VERSION, ORGANIZATIONS, STUDIOS_PER_ORGANIZATION, CONVERSATIONS_PER_STUDIO, MESSAGES)).encode()
    )
    for app in SEEDED_APPS:
        for path in sorted((ROOT / app / "migrations").glob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stored_seed_key() -> str | None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
    return row[0] if row else None


def thread_lengths(count: int, rng: random.Random) -> list[int]:
    """`count` thread lengths summing to MESSAGES: heavy-tailed (Pareto), at least 1, at most LONGEST_THREAD."""
    weights = [rng.paretovariate(1.2) for _ in range(count)]
    scale = (MESSAGES - count) / sum(weights)
    lengths = [min(LONGEST_THREAD, 1 + int(w * scale)) for w in weights]
    while (missing := MESSAGES - sum(lengths)) > 0:  # what the cap and rounding took, spread over short threads
        for i in rng.sample(range(count), min(count, missing)):
            if lengths[i] < LONGEST_THREAD:
                lengths[i] += 1
    return lengths


def copy_rows(cur: psycopg.Cursor, table: str, columns: str, rows) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed() -> float:
    """Migrate a new database and fill it; the ids are explicit so every part of the seed can name the others."""
    from django.core.management import call_command
    from django.db import connection

    from crm.registry import provider_class, registered

    served = provider_class(registered()[0])
    crm_kind = (served.connection_kinds or (served.kind,))[0]  # an account kind a CRM provider serves (never called)
    started = time.perf_counter()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    connection.close()
    rng = random.Random(7)  # noqa: S311 - test data
    now = datetime.now(UTC)
    studios = ORGANIZATIONS * STUDIOS_PER_ORGANIZATION
    conversations = studios * CONVERSATIONS_PER_STUDIO
    lengths = thread_lengths(conversations, rng)
    with psycopg.connect(DSN) as conn, conn.cursor() as cur:
        copy_rows(
            cur,
            "studios_organization",
            "id, created_at, updated_at, slug, name, is_active",
            ((o, now, now, f"bench-{o}", f"Bench Fitness {o}", True) for o in range(1, ORGANIZATIONS + 1)),
        )
        copy_rows(
            cur,
            "studios_studio",
            "id, created_at, updated_at, slug, name, time_zone, welcome_message, help_message, is_active, "
            "organization_id",
            (
                (
                    s,
                    now,
                    now,
                    f"studio-{s}",
                    f"Studio {s}",
                    "America/New_York",
                    "Hi!",
                    "Reply STOP.",
                    True,
                    organization_of(s),
                )
                for s in range(1, studios + 1)
            ),
        )
        copy_rows(
            cur,
            "studios_provideraccount",
            "id, created_at, updated_at, name, kind, is_default, account_sid, auth_token, client_id, client_secret, "
            "refresh_token, api_base_url, accounts_url, api_domain, custom_endpoints, organization_id",
            (
                (
                    o,
                    now,
                    now,
                    f"twilio-{o}",
                    "twilio",
                    True,
                    f"AC{o:032x}",
                    *[""] * 4,
                    "http://127.0.0.1:9",
                    "",
                    "",
                    True,
                    o,
                )
                for o in range(1, ORGANIZATIONS + 1)
            ),
        )
        # Each organization's CRM connection (id = ORGANIZATIONS + organization), never called: no credentials.
        copy_rows(
            cur,
            "studios_provideraccount",
            "id, created_at, updated_at, name, kind, is_default, account_sid, auth_token, client_id, client_secret, "
            "refresh_token, api_base_url, accounts_url, api_domain, custom_endpoints, organization_id",
            (
                (
                    crm_connection_of(o),
                    now,
                    now,
                    f"crm-{o}",
                    crm_kind,
                    True,
                    *[""] * 6,
                    "http://127.0.0.1:9",
                    "",
                    True,
                    o,
                )
                for o in range(1, ORGANIZATIONS + 1)
            ),
        )
        copy_rows(
            cur,
            "studios_phonenumber",
            "id, created_at, updated_at, number, provider, label, is_active, organization_id, account_id, studio_id",
            (
                (s, now, now, our_number(s), "twilio", "", True, organization_of(s), organization_of(s), s)
                for s in range(1, studios + 1)
            ),
        )
        # Users and memberships: a manager per organization (id = organization), a staff member per studio
        # (id = 1000 + studio). Unusable passwords: the benchmark signs them in with the test client.
        people = [(o, "manager", o, None) for o in range(1, ORGANIZATIONS + 1)]
        people += [(1000 + s, "staff", organization_of(s), s) for s in range(1, studios + 1)]
        copy_rows(
            cur,
            "core_user",
            "id, password, is_superuser, email, full_name, is_active, is_staff, date_joined",
            (
                (u, "!bench", False, f"{role}{u}@bench.test", f"{role.title()} {u}", True, False, now)
                for u, role, _, _ in people
            ),
        )
        copy_rows(
            cur,
            "studios_membership",
            "id, created_at, updated_at, role, is_active, user_id, organization_id",
            ((u, now, now, role, True, u, o) for u, role, o, _ in people),
        )
        # Who each staff member is in the organization's CRM: the owner of their studio's leads.
        copy_rows(
            cur,
            "studios_membercrmuser",
            "id, organization_id, membership_id, connection_id, crm_user_id",
            ((u, o, u, crm_connection_of(o), crm_user_of(u)) for u, role, o, _ in people if role == "staff"),
        )
        copy_rows(
            cur,
            "studios_membership_studios",
            "membership_id, studio_id",
            ((u, s) for u, _, _, s in people if s is not None),
        )
        # A contact and a conversation per (studio, n); contact and conversation ids coincide.
        threads = []
        for c in range(1, conversations + 1):
            studio = (c - 1) // CONVERSATIONS_PER_STUDIO + 1
            last_at = BASE_TIME - timedelta(minutes=rng.randrange(60 * 24 * 30))
            threads.append((c, organization_of(studio), studio, contact_phone(c), lengths[c - 1], last_at))
        copy_rows(
            cur,
            "messaging_contact",
            "id, created_at, updated_at, phone, name, crm_object, crm_record_id, crm_owner_id, connection_id, "
            "organization_id",
            (
                (
                    c,
                    now,
                    now,
                    phone,
                    f"Lead {c}",
                    "lead",
                    f"{4150868000000000000 + c}",
                    crm_user_of(1000 + s),
                    crm_connection_of(o),
                    o,
                )
                for c, o, s, phone, _, _ in threads
            ),
        )
        copy_rows(
            cur,
            "messaging_conversation",
            "id, created_at, updated_at, last_message_at, unread_count, needs_attention, attention_reason, "
            "contact_id, organization_id, studio_id",
            ((c, now, now, last_at, c % 3, False, "", c, o, s) for c, o, s, _, _, last_at in threads),
        )
        cur.execute(
            "CREATE TEMP TABLE seed_threads (conversation_id bigint, organization_id bigint, studio_id bigint, "
            "contact_id bigint, phone_number_id bigint, ours text, phone text, staff_id bigint, messages int, "
            "last_at timestamptz)"
        )
        copy_rows(
            cur,
            "seed_threads",
            "conversation_id, organization_id, studio_id, contact_id, phone_number_id, ours, phone, staff_id, "
            "messages, last_at",
            ((c, o, s, c, s, our_number(s), phone, 1000 + s, n, last_at) for c, o, s, phone, n, last_at in threads),
        )
        # The texts' secondary indexes are built once after the insert rather than maintained row by row.
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messaging_message' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked now: an index cannot be built over pending checks
        cur.execute(MESSAGES_SQL)
        cur.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            cur.execute(definition)
        for table in (
            "studios_organization",
            "studios_studio",
            "studios_provideraccount",
            "studios_phonenumber",
            "core_user",
            "studios_membership",
            "studios_membercrmuser",
            "messaging_contact",
            "messaging_conversation",
        ):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{seed_key()}'")
    return time.perf_counter() - started


def crm_connection_of(organization: int) -> int:
    return ORGANIZATIONS + organization


def crm_user_of(user: int) -> str:
    return f"{4150868000000200000 + user}"


def organization_of(studio: int) -> int:
    return (studio - 1) // STUDIOS_PER_ORGANIZATION + 1


def our_number(studio: int) -> str:
    return f"+1415{studio:07d}"


def contact_phone(conversation: int) -> str:
    return f"+1628{conversation:07d}"
