"""Set-based Zoho Voice dedup on PostgreSQL: a batch of logs is matched and stored in a handful of statements.

A batch is COPied into a temporary table, then, in one transaction:
1. logs whose id is already stored are matched by the unique log-id index;
2. the rest are matched to a stored Zoho Voice message still without a log id that has the same numbers,
   direction and text within ±5 minutes: an index range scan per log on `message_awaiting_provider_log`, the text
   compared on the few rows found. Pairs are taken mutually nearest (the log's nearest message is that
   message's nearest log), round after round, so one message gets at most one log and one log one message;
3. outbound statuses move forward only (the ranks of services.status);
4. the rest are inserted with ON CONFLICT (provider_log_id) DO NOTHING, after their contacts and
   conversations, so a concurrent poller that got there first makes our insert a no-op rather than a twin.

Only rows this statement inserted come back, so the per-message side effects (keywords, confirmations) run
once per text however many pollers raced. Routing is the rule of services.receiving: the number's studio, or
for a shared number `inbound_route` per contact.
"""

from __future__ import annotations

import json
import time

import structlog

from django.db import OperationalError, connection, transaction

from messaging import text
from messaging.models import Contact, Message
from messaging.providers.zoho_voice.logs import WINDOW_SECONDS, IngestResult, ZohoVoiceLog
from messaging.services.receiving import inbound_route
from messaging.services.status import RANK
from messaging.text import body_shape, keyword_of
from studios.models import PhoneNumber

logger = structlog.get_logger(__name__)

DEADLOCK_RETRIES = 3

COLUMNS = (
    "log_id",
    "direction",
    "from_number",
    "to_number",
    "customer",
    "body",
    "occurred_at",
    "status",
    "status_rank",
    "zoho_status",
    "description",
    "segments",
    "encoding",
    "is_keyword",
)
CREATE = """
CREATE TEMP TABLE zv_logs (
    log_id text PRIMARY KEY, direction text NOT NULL, from_number text NOT NULL, to_number text NOT NULL,
    customer text NOT NULL, body text NOT NULL, occurred_at timestamptz NOT NULL, status text NOT NULL,
    status_rank int NOT NULL, zoho_status text NOT NULL, description text NOT NULL, segments int NOT NULL,
    encoding text NOT NULL, is_keyword boolean NOT NULL,
    message_id bigint, matched text, moved boolean
) ON COMMIT DROP
"""
CREATE_ROUTES = (
    "CREATE TEMP TABLE zv_routes (customer text PRIMARY KEY, studio_id bigint, attention text) ON COMMIT DROP"
)


# Every lookup into messaging_message is a LATERAL ... LIMIT subquery: it cannot be flattened into a join, so
# the plan is one index probe per log whatever the planner thinks of the batch size. Left to itself it picks a
# hash join over a scan of the whole table for batches of a few thousand: O(stored messages) per batch.
MATCH_BY_LOG_ID = """
UPDATE zv_logs t SET message_id = s.id, matched = 'log_id',
    moved = t.direction = 'outbound' AND t.status_rank > coalesce((%(ranks)s::jsonb ->> s.status)::int, 0)
FROM (
    SELECT l.log_id, x.id, x.status FROM zv_logs l
    CROSS JOIN LATERAL (
        SELECT m.id, m.status FROM messaging_message m
        WHERE m.provider_log_id = l.log_id AND m.provider_log_id IS NOT NULL AND m.organization_id = %(org)s
        LIMIT 1
    ) x
) s
WHERE t.log_id = s.log_id
"""
# Candidate pairs, found once per batch: one range scan of message_awaiting_provider_log per unmatched log (the text
# is compared on the few rows of that range). More than 20 identical texts within ±5 minutes is not a thread.
CANDIDATES = """
CREATE TEMP TABLE zv_candidates ON COMMIT DROP AS
SELECT t.log_id, c.id AS message_id, c.distance
FROM zv_logs t
CROSS JOIN LATERAL (
    SELECT m.id, abs(extract(epoch FROM m.occurred_at - t.occurred_at)) AS distance
    FROM messaging_message m
    WHERE m.provider = 'zoho_voice' AND m.provider_log_id IS NULL
      AND m.from_number = t.from_number AND m.to_number = t.to_number AND m.direction = t.direction
      AND m.occurred_at BETWEEN t.occurred_at - make_interval(secs => %(window)s)
                            AND t.occurred_at + make_interval(secs => %(window)s)
      AND m.body = t.body AND m.organization_id = %(org)s
    ORDER BY distance, m.id
    LIMIT 20
) c
WHERE t.message_id IS NULL
"""
# One round of mutually nearest pairs among the candidates still free; rounds repeat until none is left, so
# one message gets at most one log and one log at most one message.
MATCH_BY_TEXT = """
WITH free AS (
    SELECT c.* FROM zv_candidates c JOIN zv_logs t ON t.log_id = c.log_id
    WHERE t.message_id IS NULL AND NOT EXISTS (SELECT 1 FROM zv_logs x WHERE x.message_id = c.message_id)
),
nearest_message AS (
    SELECT DISTINCT ON (log_id) log_id, message_id FROM free ORDER BY log_id, distance, message_id
),
nearest_log AS (
    SELECT DISTINCT ON (message_id) message_id, log_id FROM free ORDER BY message_id, distance, log_id
),
pairs AS (
    SELECT p.log_id, p.message_id, l.status, l.zoho_status, l.description,
           l.direction = 'outbound' AND l.status_rank > coalesce((%(ranks)s::jsonb ->> mm.status)::int, 0) AS moves
    FROM nearest_message p JOIN nearest_log q USING (log_id, message_id)
    JOIN zv_logs l ON l.log_id = p.log_id JOIN messaging_message mm ON mm.id = p.message_id
),
attached AS (
    -- The log's status moves with it (one new row version, not two), forward only as in STATUS_MOVE; the rank
    -- is compared again on the row being updated, in case a send moved it since this statement's snapshot.
    UPDATE messaging_message m
    SET provider_log_id = p.log_id, provider_message_id = coalesce(m.provider_message_id, p.log_id),
        status = CASE WHEN p.moves AND (%(ranks)s::jsonb ->> p.status)::int
                                       > coalesce((%(ranks)s::jsonb ->> m.status)::int, 0)
                      THEN p.status ELSE m.status END,
        delivered_at = CASE WHEN p.moves AND p.status IN ('delivered', 'read') THEN coalesce(m.delivered_at, now())
                            ELSE m.delivered_at END,
        error_code = CASE WHEN p.moves AND p.status IN ('undelivered', 'failed') THEN p.zoho_status
                          ELSE m.error_code END,
        error_message = CASE WHEN p.moves AND p.status IN ('undelivered', 'failed') THEN p.description
                             ELSE m.error_message END,
        updated_at = now()
    FROM pairs p
    WHERE m.id = p.message_id AND m.provider_log_id IS NULL
    RETURNING m.id, p.log_id, p.moves
)
UPDATE zv_logs t SET message_id = a.id, matched = 'text', moved = a.moves FROM attached a WHERE t.log_id = a.log_id
"""
# The ranks come from services.status as a JSON parameter, so SQL and Python never disagree on "forward". Only
# rows the log-id match saw behind are visited; the rank is compared again on the row itself, which a send may
# have moved since.
STATUS_MOVE = """
UPDATE messaging_message m
SET status = t.status,
    delivered_at = CASE WHEN t.status IN ('delivered', 'read') THEN coalesce(m.delivered_at, now())
                        ELSE m.delivered_at END,
    error_code = CASE WHEN t.status IN ('undelivered', 'failed') THEN t.zoho_status ELSE m.error_code END,
    error_message = CASE WHEN t.status IN ('undelivered', 'failed') THEN t.description ELSE m.error_message END,
    updated_at = now()
FROM zv_logs t
WHERE m.id = t.message_id AND t.matched = 'log_id' AND t.moved
  AND t.status_rank > coalesce((%(ranks)s::jsonb ->> m.status)::int, 0)
"""
CONTACTS_INSERT = """
INSERT INTO messaging_contact (organization_id, phone, name, crm_object, crm_record_id, crm_owner_id,
                               created_at, updated_at)
SELECT %(org)s, customer, '', '', '', '', now(), now()
FROM (SELECT DISTINCT customer FROM zv_logs WHERE message_id IS NULL) c ORDER BY customer
ON CONFLICT (organization_id, phone) DO NOTHING
"""
# Where each new row goes: the number's studio (%(studio)s), or for a shared number the route services.receiving
# chose per contact (zv_routes, filled in Python; a NULL studio there is the unassigned queue).
CONVERSATIONS_INSERT = """
INSERT INTO messaging_conversation (organization_id, studio_id, contact_id, last_message_at, unread_count,
                                    needs_attention, attention_reason, created_at, updated_at)
SELECT %(org)s, s.studio_id, c.id, NULL, 0, false, '', now(), now()
FROM (
    SELECT DISTINCT t.customer, coalesce(r.studio_id, %(studio)s) AS studio_id
    FROM zv_logs t LEFT JOIN zv_routes r ON r.customer = t.customer WHERE t.message_id IS NULL
) s
CROSS JOIN LATERAL (
    SELECT c.id FROM messaging_contact c WHERE c.organization_id = %(org)s AND c.phone = s.customer LIMIT 1
) c
ORDER BY c.id
ON CONFLICT DO NOTHING
"""
# The insert, and what conversation_touch does per message, in one statement: the thread moves up, inbound texts
# count as unread, an inbound text nobody could route flags the thread for a manager.
MESSAGES_INSERT = """
WITH source AS (
    SELECT t.*, s.studio_id, c.contact_id, v.conversation_id
    FROM zv_logs t
    LEFT JOIN zv_routes r ON r.customer = t.customer
    CROSS JOIN LATERAL (SELECT coalesce(r.studio_id, %(studio)s) AS studio_id) s
    CROSS JOIN LATERAL (
        SELECT c.id AS contact_id FROM messaging_contact c
        WHERE c.organization_id = %(org)s AND c.phone = t.customer LIMIT 1
    ) c
    CROSS JOIN LATERAL (
        SELECT v.id AS conversation_id FROM messaging_conversation v
        WHERE v.contact_id = c.contact_id AND v.organization_id = %(org)s
          AND (CASE WHEN s.studio_id IS NULL THEN v.studio_id IS NULL ELSE v.studio_id = s.studio_id END)
        LIMIT 1
    ) v
    WHERE t.message_id IS NULL
),
inserted AS (
    INSERT INTO messaging_message (
        created_at, updated_at, organization_id, studio_id, conversation_id, contact_id, phone_number_id,
        direction, body, from_number, to_number, provider, provider_message_id, provider_log_id, status,
        error_code, error_message, segments, encoding, on_behalf_of_studio, failed_over_from, attempts,
        next_attempt_at, occurred_at, delivered_at, kind, sent_by_id)
    SELECT now(), now(), %(org)s, t.studio_id, t.conversation_id, t.contact_id, %(number)s,
        t.direction, t.body, t.from_number, t.to_number, 'zoho_voice', t.log_id, t.log_id, t.status,
        CASE WHEN t.status IN ('undelivered', 'failed') THEN t.zoho_status ELSE '' END,
        CASE WHEN t.status IN ('undelivered', 'failed') THEN t.description ELSE '' END,
        t.segments, t.encoding, false, '', 0,
        NULL, t.occurred_at, CASE WHEN t.status = 'delivered' THEN t.occurred_at END, 'manual', NULL
    FROM source t ORDER BY t.log_id
    ON CONFLICT (provider_log_id) WHERE provider_log_id IS NOT NULL DO NOTHING
    RETURNING id, provider_log_id, conversation_id, direction, from_number
),
touched AS (
    UPDATE messaging_conversation v
    SET last_message_at = now(), updated_at = now(), unread_count = v.unread_count + n.inbound,
        needs_attention = v.needs_attention OR n.attention IS NOT NULL,
        attention_reason = coalesce(left(n.attention, 300), v.attention_reason)
    FROM (
        SELECT i.conversation_id, count(*) FILTER (WHERE i.direction = 'inbound') AS inbound,
               max(r.attention) FILTER (WHERE i.direction = 'inbound') AS attention
        FROM inserted i LEFT JOIN zv_routes r ON r.customer = i.from_number
        GROUP BY i.conversation_id
    ) n
    WHERE v.id = n.conversation_id
)
UPDATE zv_logs t SET message_id = i.id, matched = 'new' FROM inserted i WHERE t.log_id = i.provider_log_id
"""
COUNTS = """
SELECT count(*) FILTER (WHERE matched = 'log_id'), count(*) FILTER (WHERE matched = 'text'),
       count(*) FILTER (WHERE matched = 'new'), count(*) FILTER (WHERE matched IS NULL),
       count(*) FILTER (WHERE moved AND matched = 'text')
FROM zv_logs
"""
NEW_INBOUND = """
SELECT message_id, is_keyword FROM zv_logs WHERE matched = 'new' AND direction = 'inbound'
ORDER BY occurred_at, log_id
"""


def logs_ingest_set_based(*, phone_number: PhoneNumber, logs: list[ZohoVoiceLog]) -> IngestResult:
    """Match and store one batch in one transaction (retried on a deadlock with a concurrent poller)."""
    for attempt in range(1, DEADLOCK_RETRIES + 1):
        try:
            with transaction.atomic():
                return _batch(phone_number, logs)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == DEADLOCK_RETRIES:
                raise
            logger.warning("zoho_voice_dedup_deadlock", number=phone_number.number, attempt=attempt)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


# Every character GSM-7 can carry (basic set and extension table): a text made only of these is GSM-7. A set
# comparison runs in C, where body_shape walks the text in Python; Zoho already counted the segments.
_GSM7 = text._GSM7_BASIC | text._GSM7_EXTENDED


def _encoding(body: str) -> str:
    return Message.Encoding.GSM7 if set(body) <= _GSM7 else Message.Encoding.UCS2


def _rows(logs: list[ZohoVoiceLog]):
    for log in logs:
        yield (
            log.log_id,
            log.direction,
            log.from_number,
            log.to_number,
            log.customer,
            log.body,
            log.occurred_at,
            log.status,
            RANK.get(log.status, 0),
            log.zoho_status,
            log.description,
            log.segments or body_shape(log.body).segments,
            _encoding(log.body),
            log.direction == Message.Direction.INBOUND and keyword_of(log.body) is not None,
        )


def _params(phone_number: PhoneNumber) -> dict:
    return {
        "org": phone_number.organization_id,
        "number": phone_number.pk,
        "studio": phone_number.studio_id,
        "window": WINDOW_SECONDS,
        "ranks": json.dumps({str(status): rank for status, rank in RANK.items()}),
    }


def _batch(phone_number: PhoneNumber, logs: list[ZohoVoiceLog]) -> IngestResult:
    params = _params(phone_number)
    with connection.cursor() as cursor:
        # Left by an earlier batch in the same transaction (tests, a caller's atomic block).
        cursor.execute("DROP TABLE IF EXISTS zv_logs, zv_candidates, zv_routes")
        cursor.execute(CREATE)
        cursor.execute(CREATE_ROUTES)
        with cursor.cursor.copy(f"COPY zv_logs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _rows(logs):
                copy.write_row(row)
        cursor.execute(MATCH_BY_LOG_ID, params)
        cursor.execute(CANDIDATES, params)
        if cursor.rowcount:
            cursor.execute("CREATE INDEX ON zv_logs (message_id)")  # for "is this message taken" in each round
            while True:
                cursor.execute(MATCH_BY_TEXT, params)
                if cursor.rowcount == 0:
                    break
        cursor.execute(STATUS_MOVE, params)
        statuses_moved = cursor.rowcount  # by log id; those that moved with a ±5 minute match are counted below
        cursor.execute(CONTACTS_INSERT, params)
        _route(cursor, phone_number)
        cursor.execute(CONVERSATIONS_INSERT, params)
        cursor.execute(MESSAGES_INSERT, params)
        cursor.execute(COUNTS)
        by_id, by_text, inserted, lost, moved_with_text = cursor.fetchone()
        cursor.execute(NEW_INBOUND)
        new_inbound = cursor.fetchall()
        cursor.execute("DROP TABLE zv_logs, zv_candidates, zv_routes")
    return IngestResult(
        logs=len(logs),
        matched_by_log_id=by_id,
        matched_by_text=by_text,
        inserted=inserted,
        already_stored=lost,
        statuses_moved=statuses_moved + moved_with_text,
        new_inbound_ids=[message_id for message_id, _ in new_inbound],
        keyword_ids=[message_id for message_id, is_keyword in new_inbound if is_keyword],
    )


def _route(cursor, phone_number: PhoneNumber) -> None:
    """For a shared number, each new contact's studio as services.receiving routes it (zv_routes); a number's
    own studio needs no table (it is the %(studio)s parameter)."""
    if phone_number.studio_id:
        return
    cursor.execute("SELECT DISTINCT customer FROM zv_logs WHERE message_id IS NULL")
    phones = [row[0] for row in cursor.fetchall()]
    contacts = Contact.objects.for_organization(phone_number.organization).filter(phone__in=phones)
    routes = []
    for contact in contacts:
        route = inbound_route(phone_number=phone_number, contact=contact)
        routes.append(
            (contact.phone, route.studio.pk if route.studio else None, None if route.studio else route.reason)
        )
    if routes:
        cursor.executemany("INSERT INTO zv_routes (customer, studio_id, attention) VALUES (%s, %s, %s)", routes)


def match_plan_explain(*, phone_number: PhoneNumber, logs: list[ZohoVoiceLog]) -> dict[str, list[str]]:
    """PostgreSQL's executed plans (EXPLAIN ANALYZE, rolled back) of the log-id match and of the ±5 minute
    candidate search for `logs`: the proof that both are index probes per log, not scans of every pair."""
    params = _params(phone_number)
    plans = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS zv_logs, zv_candidates, zv_routes")
        cursor.execute(CREATE)
        cursor.execute(CREATE_ROUTES)
        with cursor.cursor.copy(f"COPY zv_logs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _rows(logs):
                copy.write_row(row)
        for name, sql in (("match by log id", MATCH_BY_LOG_ID), ("±5 minute candidates", CANDIDATES)):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans[name] = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return plans
