"""Writing mirror rows: one guarded `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE` per batch, and deletions.

Django's bulk_create(update_conflicts=True) has no WHERE, so it would overwrite a newer row with a stale read
(STYLE §4); the guard is SQL. Rows the mirror already holds unchanged are dropped before the statement, because
ON CONFLICT ... WHERE still locks and logs every row it skips. Records a CRM's change tracking gives as their current
state (`current=True`) are written whenever they differ, whatever their modified time: an import may back-date it
below the stored one.

On PostgreSQL a batch is COPY'd into a temporary table and written by one `INSERT ... SELECT` that joins the
stored rows to drop the unchanged ones (the fastest route STYLE §4 measured; bench/sync_mirror.py compares it with
a bare COPY + INSERT ceiling), and phones change only where they differ. Elsewhere (SQLite, the embedded default)
the stored rows are read first and the statement is plain VALUES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from crm.hooks import records_changed_raise
from crm.records import CanonicalRecord
from sync.content import MirrorKey, record_serialized
from sync.models import CrmPhone, CrmQuarantine, CrmRecord
from sync.selectors import StoredVersion, crm_record_versions

TABLE = CrmRecord._meta.db_table
COLUMNS = [
    "organization_id",
    "connection_id",
    "object",
    "external_id",
    "name",
    "email",
    "owner_id",
    "owner_name",
    "created_time",
    "modified_time",
    "content_hash",
    "fields",
    "custom_fields",
    "deleted_at",
    "synced_at",
    "run_id",
]
RECORDSET = (
    "organization_id bigint, connection_id bigint, object text, external_id text, name text, email text, "
    "owner_id text, owner_name text, "
    "created_time timestamptz, modified_time timestamptz, content_hash text, fields jsonb, custom_fields jsonb, "
    "deleted_at timestamptz, synced_at timestamptz, run_id bigint"
)
KEY = ("organization_id", "connection_id", "object", "external_id")
UPDATED = [column for column in COLUMNS if column not in KEY]


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    quarantined: int = 0
    # The external ids of the rows this batch inserted (new to the mirror), for the records-discovered hook.
    inserted_ids: set[str] = field(default_factory=set)


def crm_records_upsert(
    *, key: MirrorKey, records: list[CanonicalRecord], run_id: int, now: datetime, current: bool = False
) -> UpsertResult:
    """Write a batch (call inside a transaction); a row changes only if the incoming record is newer, or as new
    but different (an edit in the same second). `current`: the records are the CRM's current state (its change
    tracking said so, after every change the mirror holds): a row changes whenever it differs, even to an older
    modified time (an import that back-dated it)."""
    latest: dict[str, CanonicalRecord] = {}
    for record in records:  # a record edited mid-run can appear twice: the newer read wins
        held = latest.get(record.id)
        if held is None or current or record.modified_time >= held.modified_time:
            latest[record.id] = record
    if not latest:
        return UpsertResult()
    if connection.vendor == "postgresql":
        with transaction.atomic(savepoint=False):  # the batch table lives for one transaction
            written = _copy_upsert(key, list(latest.values()), run_id, now, current=current)
            kept = [record for record in latest.values() if record.id in written]
            new_ids = {external_id for external_id, new in written.items() if new}
            _phones_sync(key, kept, inserted=new_ids)
            _changed_raise(key, kept)
            return UpsertResult(
                inserted=len(new_ids),
                updated=len(kept) - len(new_ids),
                quarantined=_quarantine(key, kept, run_id),
                inserted_ids=new_ids,
            )
    stored = crm_record_versions(key=key, external_ids=list(latest))
    changed = _differs if current else _newer
    fresh = [record for record in latest.values() if changed(record, stored.get(record.id))]
    result = UpsertResult()
    if not fresh:
        return result
    written = set(_execute(key, fresh, run_id, now, current=current))
    result.inserted_ids = written - set(stored)
    result.inserted = len(result.inserted_ids)
    result.updated = len(written & set(stored))
    kept = [record for record in fresh if record.id in written]
    _phones_replace(key, kept)
    result.quarantined = _quarantine(key, kept, run_id)
    _changed_raise(key, kept)
    return result


def _changed_raise(key: MirrorKey, records: list[CanonicalRecord]) -> None:
    """The batch's written records, to the records-changed receivers (two-way sync's outbox), in its transaction."""
    records_changed_raise(
        organization_id=key.organization_id, connection_id=key.connection_id, object=key.object, records=records
    )


def _quarantine(key: MirrorKey, records: list[CanonicalRecord], run_id: int) -> int:
    problems = [
        CrmQuarantine(
            **key.values(),
            external_id=record.id,
            field=problem.field,
            value=problem.value,
            reason=problem.reason,
            run_id=run_id,
        )
        for record in records
        for problem in record.problems
    ]
    CrmQuarantine.objects.bulk_create(problems)
    return len(problems)


def crm_records_mark_deleted(
    *, key: MirrorKey, deletions: dict[str, datetime], run_id: int, now: datetime, confirmed: bool = True
) -> int:
    """Set deleted_at on mirrored records the CRM deleted (call inside a transaction); how many were marked.
    `confirmed`: the CRM itself said so (its deletions list, change tracking, a change event); False when the records
    were only missing from a full read of every id (the records-changed receivers are told which)."""
    marked: list[str] = []
    for external_id, deleted_time in deletions.items():
        if (
            CrmRecord.objects.unscoped()
            .filter(**key.values(), external_id=external_id, deleted_at__isnull=True)
            .update(deleted_at=deleted_time, synced_at=now, run_id=run_id)
        ):
            marked.append(external_id)
    # A deleted record must not answer for an inbound phone any more.
    CrmPhone.objects.unscoped().filter(**key.values(), external_id__in=list(deletions)).delete()
    records_changed_raise(
        organization_id=key.organization_id,
        connection_id=key.connection_id,
        object=key.object,
        deleted_ids=marked,
        deletion_confirmed=confirmed,
    )
    return len(marked)


def _differs(record: CanonicalRecord, held: StoredVersion | None) -> bool:
    if held is None:
        return True
    return (
        record.modified_time != held.modified_time
        or record_serialized(record)[0] != held.content_hash
        or held.deleted_at is not None
    )


def _newer(record: CanonicalRecord, held: StoredVersion | None) -> bool:
    if held is None:
        return True
    if record.modified_time > held.modified_time:
        return True
    return record.modified_time == held.modified_time and (
        record_serialized(record)[0] != held.content_hash or held.deleted_at is not None
    )


# --- PostgreSQL: COPY into a temporary table, one INSERT ... SELECT ----------------------------------------------
BATCH_TABLE = "sync_upsert_batch"
BATCH_COLUMNS = [column for column in UPDATED if column not in ("deleted_at", "synced_at", "run_id")]
# Created once per connection and emptied at every commit; the DELETE empties it for a second batch in the same
# transaction. No IF NOT EXISTS: its notice would come back with every batch. Its JSON columns are compressed with
# lz4 where the server has it: a mapped row is larger than TOAST's threshold, so each value is compressed as it is
# COPY'd (pglz by default, the largest cost of a batch), and the INSERT keeps the compressed value as it is; lz4 made
# COPY + INSERT ~40% faster than pglz for a few % more space (bench/sync_mirror.py's rows). Readers see no difference.
BATCH_TABLE_SQL = f"""
DO $$
DECLARE
    packed text := '';
BEGIN
    IF to_regclass('pg_temp.{BATCH_TABLE}') IS NULL THEN
        IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
            packed := ' COMPRESSION lz4';
        END IF;
        EXECUTE 'CREATE TEMP TABLE {BATCH_TABLE} (external_id text, name text, email text, owner_id text, '
            'owner_name text, created_time timestamptz, modified_time timestamptz, content_hash text, '
            'fields jsonb' || packed || ', custom_fields jsonb' || packed || ') ON COMMIT DELETE ROWS';
    END IF;
END $$;
DELETE FROM pg_temp.{BATCH_TABLE};
"""  # noqa: S608
COPY_SQL = f"COPY pg_temp.{BATCH_TABLE} (external_id, {', '.join(BATCH_COLUMNS)}) FROM STDIN"
_BATCH_VALUES = ", ".join(f"batch.{column}" for column in BATCH_COLUMNS)
_ASSIGNMENTS = ", ".join(f"{column} = excluded.{column}" for column in UPDATED)
# One statement, the same as the benchmark's raw ceiling: the ON CONFLICT guard leaves stored rows that are newer
# or unchanged as they are, and xmax = 0 tells an inserted row from an updated one. No join against the stored rows
# first: any such join is planned from statistics, and during a first load they are missing or stale (the new
# organization's rows "estimate" as one), so a LATERAL probe by the record's key was planned on an
# (organization, module, modified_time) index with a filter, i.e. a scan of every stored row of the module per batch
# row: a cold load of 100,000 leads stalled from ~23,000 rows until the estimate passed one row at ~47,000 (each
# batch 3-7 s instead of 0.3). ON CONFLICT always finds the row through its arbiter, the unique index, whatever the
# statistics say. The cost: a skipped row is locked (overlap re-reads, a re-run backfill), measured in docs/sync.md.
_UPSERT_TEMPLATE = f"""
INSERT INTO {TABLE} AS stored ({", ".join(COLUMNS)})
SELECT %(organization_id)s, %(connection_id)s, %(object)s, batch.external_id, {_BATCH_VALUES}, NULL, %(now)s,
    %(run_id)s
FROM pg_temp.{BATCH_TABLE} AS batch
ON CONFLICT (organization_id, connection_id, object, external_id) DO UPDATE SET {_ASSIGNMENTS}
WHERE {{guard}}
RETURNING stored.external_id, stored.xmax = 0
"""  # noqa: S608 (table and column names are ours)
NEWER = """stored.modified_time < excluded.modified_time
    OR (stored.modified_time = excluded.modified_time
        AND (stored.content_hash <> excluded.content_hash OR stored.deleted_at IS NOT NULL))"""
DIFFERENT = """stored.modified_time <> excluded.modified_time OR stored.content_hash <> excluded.content_hash
    OR stored.deleted_at IS NOT NULL"""
UPSERT_SQL = _UPSERT_TEMPLATE.format(guard=NEWER)
UPSERT_CURRENT_SQL = _UPSERT_TEMPLATE.format(guard=DIFFERENT)
PHONE_TABLE = CrmPhone._meta.db_table
# Each batch id probes the unique index (LATERAL ... OFFSET 0 keeps it a nested loop of lookups by the whole key):
# a plain join, or `external_id = ANY(...)`, is planned from statistics, and while they are missing or stale the planner
# took the organization's phones for one row, scanning all of them per batch (20 s for 1,000 ids among 233,000).
PHONES_HELD_SQL = (
    "SELECT phone.external_id, phone.field, phone.e164 FROM unnest(%s::text[]) AS batch(external_id) "  # noqa: S608
    f"CROSS JOIN LATERAL (SELECT external_id, field, e164 FROM {PHONE_TABLE} WHERE organization_id = %s "
    "AND connection_id = %s AND object = %s AND external_id = batch.external_id OFFSET 0) AS phone"
)
PHONES_GONE_SQL = (
    f"DELETE FROM {PHONE_TABLE} WHERE id = ANY(ARRAY(SELECT phone.id "  # noqa: S608
    "FROM unnest(%s::text[], %s::text[]) AS batch(external_id, field) "
    f"CROSS JOIN LATERAL (SELECT id FROM {PHONE_TABLE} WHERE organization_id = %s AND connection_id = %s "
    "AND object = %s AND external_id = batch.external_id AND field = batch.field OFFSET 0) AS phone))"
)
PHONES_SET_SQL = (
    f"INSERT INTO {PHONE_TABLE} (organization_id, connection_id, object, external_id, field, e164) "  # noqa: S608
    "SELECT %s, %s, %s, * FROM unnest(%s::text[], %s::text[], %s::text[]) "
    "ON CONFLICT (organization_id, connection_id, object, external_id, field) DO UPDATE SET e164 = excluded.e164"
)


def _copy_upsert(
    key: MirrorKey, records: list[CanonicalRecord], run_id: int, now: datetime, *, current: bool = False
) -> dict[str, bool]:
    """The external ids written, each True if inserted; the rest were older than or equal to the stored rows."""
    with connection.cursor() as cursor:
        cursor.execute(BATCH_TABLE_SQL)
        with cursor.copy(COPY_SQL) as copy:
            for start in range(0, len(records), COPY_CHUNK):  # the server parses a chunk while the next is built
                copy.write(_copy_rows(records[start : start + COPY_CHUNK]))
        sql = UPSERT_CURRENT_SQL if current else UPSERT_SQL
        cursor.execute(sql, {**key.values(), "now": now, "run_id": run_id})
        return dict(cursor.fetchall())


# Records per COPY write: ~100 KB of wide rows, under the size psycopg would split.
COPY_CHUNK = 40
# COPY text format: a backslash, tab, newline or carriage return inside a value is escaped; \N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_rows(records: list[CanonicalRecord]) -> str:
    """Records as COPY text, one line each (record_copy_line)."""
    lines = [record_copy_line(record) for record in records]
    lines.append("")
    return "\n".join(lines)


_COPY_LINE = "_mirror_copy_line"


def record_copy_line(record: CanonicalRecord) -> str:
    """The record's batch-table row as one line of COPY text (no newline), built once per record and kept on it (as
    record_serialized keeps its JSON): a sync's reading thread may build it ahead of the write. Built in one pass:
    psycopg's write_row adapts each value of each row in turn, which cost more than the hashing. The JSON is ASCII
    with every control character escaped (json's defaults), so only its backslashes need doubling."""
    cached = record.__dict__.get(_COPY_LINE)
    if cached is None:
        digest, fields_json, custom_json = record_serialized(record)
        cached = "\t".join(
            (
                _copy_value(record.id),
                _copy_value(record.name),
                _copy_value(record.email),
                _copy_value(record.owner_id),
                _copy_value(record.owner_name),
                _copy_value(record.created_time),
                _copy_value(record.modified_time),
                digest,
                fields_json.replace("\\", "\\\\"),
                custom_json.replace("\\", "\\\\"),
            )
        )
        object.__setattr__(record, _COPY_LINE, cached)  # frozen for its values; this is derived from them
    return cached


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _text_array(values: list[str]) -> str:
    """A text[] literal: psycopg adapts a list element by element in Python (a third of the phones' time on a first
    load); one string is quoted at once."""
    return "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values) + "}"


def _phones_sync(key: MirrorKey, records: list[CanonicalRecord], *, inserted: set[str]) -> None:
    """The written records' phones as mapped: rows of fields no longer holding a number go, new or changed numbers
    are written, the rest is left alone (an all-update run rewrites none: it only reads them). Only updated records
    can hold phones (a record's phones go with it when it is deleted), so a first load reads none."""
    if not records:
        return
    wanted = {(record.id, name): e164 for record in records for name, e164 in record.phones.items()}
    held: dict[tuple[str, str], str] = {}
    updated = [record.id for record in records if record.id not in inserted]
    scope = [key.organization_id, key.connection_id, key.object]
    with connection.cursor() as cursor:
        if updated:
            cursor.execute(PHONES_HELD_SQL, [_text_array(updated), *scope])
            held = {(external_id, name): e164 for external_id, name, e164 in cursor.fetchall()}
        gone = [pair for pair in held if pair not in wanted]
        if gone:
            cursor.execute(PHONES_GONE_SQL, [*map(_text_array, zip(*gone, strict=True)), *scope])
        changed = [(*pair, e164) for pair, e164 in wanted.items() if held.get(pair) != e164]
        if changed:
            cursor.execute(PHONES_SET_SQL, [*scope, *map(_text_array, zip(*changed, strict=True))])


# --- elsewhere: VALUES ---------------------------------------------------------------------------------------
def _execute(
    key: MirrorKey, records: list[CanonicalRecord], run_id: int, now: datetime, *, current: bool = False
) -> list[str]:
    ops = connection.ops
    rows = []
    for record in records:
        digest, fields_json, custom_json = record_serialized(record)
        rows.append(
            [
                key.organization_id,
                key.connection_id,
                key.object,
                record.id,
                record.name,
                record.email,
                record.owner_id,
                record.owner_name,
                record.created_time,
                record.modified_time,
                digest,
                fields_json,
                custom_json,
                None,  # an upserted record exists in the CRM (a restored one loses its deleted_at)
                now,
                run_id,
            ]
        )
    placeholders = ", ".join(["%s"] * len(COLUMNS))
    source = "VALUES " + ", ".join(f"({placeholders})" for _ in rows)
    params = [_adapt(ops, value) for row in rows for value in row]
    assignments = ", ".join(f"{column} = excluded.{column}" for column in UPDATED)
    guard = (DIFFERENT if current else NEWER).replace("stored.", f"{TABLE}.")
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) {source} "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {assignments} "
        f"WHERE {guard} "
        "RETURNING external_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _adapt(ops: Any, value: Any) -> Any:
    return ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value


def _phones_replace(key: MirrorKey, records: list[CanonicalRecord]) -> None:
    CrmPhone.objects.unscoped().filter(**key.values(), external_id__in=[record.id for record in records]).delete()
    CrmPhone.objects.bulk_create(
        CrmPhone(**key.values(), external_id=record.id, field=name, e164=e164)
        for record in records
        for name, e164 in record.phones.items()
    )
