"""Set-based Zoho Voice dedup on PostgreSQL: a batch of logs is matched and stored in a handful of statements.

A batch is COPied into a temporary table, then, in one transaction:
1. logs whose id is already stored are matched by the unique log-id index;
2. the rest are matched to a stored Zoho Voice message still without a log id that has the same numbers,
   direction and text within ±5 minutes: an index range scan per log on `message_zv_awaiting_log`, the text
   compared on the few rows found. Pairs are taken mutually nearest (the log's nearest message is that
   message's nearest log), round after round, so one message gets at most one log and one log one message;
3. outbound statuses move forward only (the ranks of services.status);
4. the rest are inserted with ON CONFLICT (zoho_voice_log_id) DO NOTHING, after their contacts and
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

from messaging.models import Contact, Message
from messaging.services.receiving import inbound_route
from messaging.services.status import RANK
from messaging.services.zoho_voice_logs import WINDOW_SECONDS, IngestResult, ZohoVoiceLog
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
    message_id bigint, matched text, contact_id bigint, studio_id bigint, conversation_id bigint, attention text
) ON COMMIT DROP
"""


MATCH_BY_LOG_ID = """
UPDATE zv_logs t SET message_id = m.id, matched = 'log_id'
FROM messaging_message m
WHERE m.zoho_voice_log_id = t.log_id AND m.zoho_voice_log_id IS NOT NULL AND m.organization_id = %(org)s
"""
# One round of mutually nearest pairs; LATERAL makes it one index range scan per unmatched log.
MATCH_BY_TEXT = """
WITH candidates AS (
    SELECT t.log_id, c.id AS message_id, abs(extract(epoch FROM c.occurred_at - t.occurred_at)) AS distance
    FROM zv_logs t
    CROSS JOIN LATERAL (
        SELECT m.id, m.occurred_at FROM messaging_message m
        WHERE m.provider = 'zoho_voice' AND m.zoho_voice_log_id IS NULL
          AND m.from_number = t.from_number AND m.to_number = t.to_number AND m.direction = t.direction
          AND m.occurred_at BETWEEN t.occurred_at - make_interval(secs => %(window)s)
                                AND t.occurred_at + make_interval(secs => %(window)s)
          AND m.body = t.body AND m.organization_id = %(org)s
    ) c
    WHERE t.message_id IS NULL
),
nearest_message AS (
    SELECT DISTINCT ON (log_id) log_id, message_id FROM candidates ORDER BY log_id, distance, message_id
),
nearest_log AS (
    SELECT DISTINCT ON (message_id) message_id, log_id FROM candidates ORDER BY message_id, distance, log_id
),
attached AS (
    UPDATE messaging_message m
    SET zoho_voice_log_id = p.log_id, provider_message_id = coalesce(m.provider_message_id, p.log_id),
        updated_at = now()
    FROM nearest_message p JOIN nearest_log q USING (log_id, message_id)
    WHERE m.id = p.message_id AND m.zoho_voice_log_id IS NULL
    RETURNING m.id, p.log_id
)
UPDATE zv_logs t SET message_id = a.id, matched = 'text' FROM attached a WHERE t.log_id = a.log_id
"""
# The ranks come from services.status as a JSON parameter, so SQL and Python never disagree on "forward".
STATUS_MOVE = """
UPDATE messaging_message m
SET status = t.status,
    delivered_at = CASE WHEN t.status IN ('delivered', 'read') THEN coalesce(m.delivered_at, now())
                        ELSE m.delivered_at END,
    error_code = CASE WHEN t.status IN ('undelivered', 'failed') THEN t.zoho_status ELSE m.error_code END,
    error_message = CASE WHEN t.status IN ('undelivered', 'failed') THEN t.description ELSE m.error_message END,
    updated_at = now()
FROM zv_logs t
WHERE m.id = t.message_id AND t.matched IN ('log_id', 'text') AND t.direction = 'outbound'
  AND t.status_rank > coalesce((%(ranks)s::jsonb ->> m.status)::int, 0)
"""
CONTACTS_INSERT = """
INSERT INTO messaging_contact (organization_id, phone, name, crm_module, crm_record_id, crm_owner_id,
                               created_at, updated_at)
SELECT %(org)s, customer, '', '', '', '', now(), now()
FROM (SELECT DISTINCT customer FROM zv_logs WHERE message_id IS NULL) c ORDER BY customer
ON CONFLICT (organization_id, phone) DO NOTHING
"""
CONTACTS_LINK = """
UPDATE zv_logs t SET contact_id = c.id FROM messaging_contact c
WHERE c.organization_id = %(org)s AND c.phone = t.customer AND t.message_id IS NULL
"""
CONVERSATIONS_INSERT = """
INSERT INTO messaging_conversation (organization_id, studio_id, contact_id, last_message_at, unread_count,
                                    needs_attention, attention_reason, created_at, updated_at)
SELECT %(org)s, studio_id, contact_id, NULL, 0, false, '', now(), now()
FROM (SELECT DISTINCT studio_id, contact_id FROM zv_logs WHERE message_id IS NULL) c ORDER BY contact_id
ON CONFLICT DO NOTHING
"""
CONVERSATIONS_LINK = """
UPDATE zv_logs t SET conversation_id = v.id FROM messaging_conversation v
WHERE v.organization_id = %(org)s AND v.contact_id = t.contact_id AND t.message_id IS NULL
  AND ((t.studio_id IS NOT NULL AND v.studio_id = t.studio_id) OR (t.studio_id IS NULL AND v.studio_id IS NULL))
"""
MESSAGES_INSERT = """
WITH inserted AS (
    INSERT INTO messaging_message (
        created_at, updated_at, organization_id, studio_id, conversation_id, contact_id, phone_number_id,
        direction, body, from_number, to_number, provider, provider_message_id, zoho_voice_log_id, status,
        error_code, error_message, segments, encoding, on_behalf_of_studio, failed_over_from, attempts,
        next_attempt_at, occurred_at, delivered_at, kind, sent_by_id)
    SELECT now(), now(), %(org)s, t.studio_id, t.conversation_id, t.contact_id, %(number)s,
        t.direction, t.body, t.from_number, t.to_number, 'zoho_voice', t.log_id, t.log_id, t.status,
        CASE WHEN t.status IN ('undelivered', 'failed') THEN t.zoho_status ELSE '' END,
        CASE WHEN t.status IN ('undelivered', 'failed') THEN t.description ELSE '' END,
        t.segments, t.encoding, false, '', 0,
        NULL, t.occurred_at, CASE WHEN t.status = 'delivered' THEN t.occurred_at END, 'manual', NULL
    FROM zv_logs t WHERE t.message_id IS NULL ORDER BY t.log_id
    ON CONFLICT (zoho_voice_log_id) WHERE zoho_voice_log_id IS NOT NULL DO NOTHING
    RETURNING id, zoho_voice_log_id
)
UPDATE zv_logs t SET message_id = i.id, matched = 'new' FROM inserted i WHERE t.log_id = i.zoho_voice_log_id
"""
# As conversation_touch does per message: the thread moves up, inbound texts count as unread, and an inbound
# text nobody could route flags the thread for a manager.
CONVERSATIONS_TOUCH = """
UPDATE messaging_conversation v
SET last_message_at = now(), updated_at = now(), unread_count = v.unread_count + n.inbound,
    needs_attention = v.needs_attention OR n.attention IS NOT NULL,
    attention_reason = coalesce(left(n.attention, 300), v.attention_reason)
FROM (SELECT conversation_id, count(*) FILTER (WHERE direction = 'inbound') AS inbound,
             max(attention) FILTER (WHERE direction = 'inbound') AS attention
      FROM zv_logs WHERE matched = 'new' GROUP BY conversation_id) n
WHERE v.id = n.conversation_id
"""
COUNTS = """
SELECT count(*) FILTER (WHERE matched = 'log_id'), count(*) FILTER (WHERE matched = 'text'),
       count(*) FILTER (WHERE matched = 'new'), count(*) FILTER (WHERE matched IS NULL)
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


def _rows(logs: list[ZohoVoiceLog]):
    for log in logs:
        shape = body_shape(log.body)
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
            log.segments or shape.segments,
            shape.encoding,
            log.direction == Message.Direction.INBOUND and keyword_of(log.body) is not None,
        )


def _batch(phone_number: PhoneNumber, logs: list[ZohoVoiceLog]) -> IngestResult:
    params = {
        "org": phone_number.organization_id,
        "number": phone_number.pk,
        "window": WINDOW_SECONDS,
        "ranks": json.dumps({str(status): rank for status, rank in RANK.items()}),
    }
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS zv_logs")  # left by an earlier batch in the same transaction
        cursor.execute(CREATE)
        with cursor.cursor.copy(f"COPY zv_logs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _rows(logs):
                copy.write_row(row)
        cursor.execute("ANALYZE zv_logs")  # the planner otherwise guesses the temp table's size
        cursor.execute(MATCH_BY_LOG_ID, params)
        while True:
            cursor.execute(MATCH_BY_TEXT, params)
            if cursor.rowcount == 0:
                break
        cursor.execute(STATUS_MOVE, params)
        statuses_moved = cursor.rowcount
        cursor.execute(CONTACTS_INSERT, params)
        cursor.execute(CONTACTS_LINK, params)
        _route(cursor, phone_number)
        cursor.execute(CONVERSATIONS_INSERT, params)
        cursor.execute(CONVERSATIONS_LINK, params)
        cursor.execute(MESSAGES_INSERT, params)
        cursor.execute(CONVERSATIONS_TOUCH)
        cursor.execute(COUNTS)
        by_id, by_text, inserted, lost = cursor.fetchone()
        cursor.execute(NEW_INBOUND)
        new_inbound = cursor.fetchall()
        cursor.execute("DROP TABLE zv_logs")
    return IngestResult(
        logs=len(logs),
        matched_by_log_id=by_id,
        matched_by_text=by_text,
        inserted=inserted,
        already_stored=lost,
        statuses_moved=statuses_moved,
        new_inbound_ids=[message_id for message_id, _ in new_inbound],
        keyword_ids=[message_id for message_id, is_keyword in new_inbound if is_keyword],
    )


def _route(cursor, phone_number: PhoneNumber) -> None:
    """The studio of each new row: the number's own, else per contact as services.receiving routes."""
    if phone_number.studio_id:
        cursor.execute("UPDATE zv_logs SET studio_id = %s WHERE message_id IS NULL", [phone_number.studio_id])
        return
    cursor.execute("SELECT DISTINCT contact_id FROM zv_logs WHERE message_id IS NULL")
    contact_ids = [row[0] for row in cursor.fetchall()]
    contacts = Contact.objects.for_organization(phone_number.organization).filter(pk__in=contact_ids)
    routes = []
    for contact in contacts:
        route = inbound_route(phone_number=phone_number, contact=contact)
        routes.append((route.studio.pk if route.studio else None, None if route.studio else route.reason, contact.pk))
    if routes:
        cursor.executemany(
            "UPDATE zv_logs SET studio_id = %s, attention = %s WHERE contact_id = %s AND message_id IS NULL", routes
        )
