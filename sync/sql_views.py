"""Per-object SQL views over the generic mirror table, PostgreSQL only: `mirror_leads`, `mirror_deals`, ...

    select external_id, annual_revenue, lead_source, converted_s from mirror_leads where organization_id = 7;

Each view is named after the CRM's own name of the object (`mirror_` + snake_case: Leads -> mirror_leads,
the names views had before the mirror was CRM-neutral) and selects the rows of its mirror object (lead). It has the
table's common columns (organization_id, connection_id, object, external_id, name, email, owner, times,
custom_fields, deleted_at, synced_at, run_id) and then one typed column per standard field of the object's field
specs (`provider.object_spec`), read out of `fields` by the field's key with the cast its type calls for (lookups
and users as `<key>_id` / `<key>_name`, multi-select picklists as text[], JSON as jsonb). Custom fields stay in the
`custom_fields` JSON, so a custom field added in the CRM changes nothing here.

The view is shared by every organization, and standard fields can differ a little between CRM orgs, so its
columns only grow: the column definitions are kept (as JSON) in the view's COMMENT, and a refresh adds the
spec's new columns to them. The COMMENT is also the cheap check: a run whose spec adds nothing costs one
query. New columns are appended, so CREATE OR REPLACE works; a column whose type changed needs DROP + CREATE.
Every cast is guarded by the value's JSON type or shape, so a field whose type changed in the CRM (old rows holding
the old type) yields NULL instead of breaking queries on the view. Identifiers and literals are composed with
psycopg.sql, never by string formatting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import structlog
from psycopg import sql

from django.db import DatabaseError, connection, transaction

from crm.provider import CrmProvider
from crm.records import FieldType, ObjectSpec
from studios.models import Organization, ProviderAccount
from sync.models import CrmRecord
from sync.runs import run_provider

logger = structlog.get_logger(__name__)
COMMENT_PREFIX = "leadline mirror view "
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names, which could make two columns one
# The table's own columns, first in every view; a standard field of the same name (email, owner_id...) is one.
COMMON_COLUMNS = [
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
    "custom_fields",
    "deleted_at",
    "synced_at",
    "run_id",
]
CASTS = {
    FieldType.DATETIME: "timestamptz",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "boolean",
    FieldType.NUMBER: "bigint",
    FieldType.DECIMAL: "numeric",
    FieldType.CURRENCY: "numeric(14,2)",
    FieldType.MULTI_PICKLIST: "text[]",
    FieldType.JSON: "jsonb",
}
REFERENCES = (FieldType.LOOKUP, FieldType.USER)


@dataclass(frozen=True)
class ViewColumn:
    """One typed column: its name, its SQL type (a key of EXPRESSIONS) and the key it is read from in `fields`."""

    name: str
    cast: str
    key: str

    def as_list(self) -> list[str]:
        return [self.name, self.cast, self.key]


def snake_case(name: str) -> str:
    """Lead_Source -> lead_source, Leads -> leads, $state -> state."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip("$"))
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


def view_name(vendor_name: str) -> str:
    """The view of an object, by the CRM's own name of it (Leads -> mirror_leads)."""
    return f"mirror_{snake_case(vendor_name)}"[:MAX_IDENTIFIER]


def view_columns(spec: ObjectSpec) -> list[ViewColumn]:
    """The typed columns of the object's standard fields, in the spec's order."""
    columns: list[ViewColumn] = []
    for field in spec.fields:
        if field.custom:
            continue
        if field.type in REFERENCES:
            columns += [ViewColumn(f"{field.key}_id", "text", f"{field.key}_id")]
            columns += [ViewColumn(f"{field.key}_name", "text", f"{field.key}_name")]
        else:
            columns.append(ViewColumn(field.key, CASTS.get(field.type, "text"), field.key))
    if any(field.type == FieldType.CURRENCY for field in spec.fields):
        columns.append(ViewColumn("currency_code", "text", "currency_code"))
    return _distinct(columns)


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def mirror_view_refresh(*, spec: ObjectSpec) -> str:
    """Create the object's view, or add the spec's new columns to it. Returns "created", "replaced",
    "recreated" (DROP + CREATE: a column's type changed), "unchanged", or "skipped" (not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return "skipped"
    name = view_name(spec.vendor_name or spec.name)
    exists, previous = _stored_columns(name)
    merged = _merged(previous, view_columns(spec))
    if exists and merged == previous:
        return "unchanged"
    comment = _comment_statement(name, merged)
    if not exists:
        _execute(_create_statement(name, spec.name, merged, replace=False), comment)
        return "created"
    try:
        _execute(_create_statement(name, spec.name, merged, replace=True), comment)
        return "replaced"
    except DatabaseError:  # CREATE OR REPLACE may only add columns at the end, never change a type
        logger.info("sync.views.recreate", view=name)
    _execute(_drop_statement(name), _create_statement(name, spec.name, merged, replace=False), comment)
    return "recreated"


def mirror_view_refresh_quietly(*, provider: CrmProvider, object: str) -> str:
    """After a run: the object's spec (the provider read its fields for the run already) refreshes its view; a
    view that cannot be refreshed (a view of the operator's depends on it...) or a spec the CRM does not give is
    logged, and the run stays ok."""
    if connection.vendor != "postgresql":
        return "skipped"
    try:
        return mirror_view_refresh(spec=provider.object_spec(object=object))
    except Exception:  # deliberately broad: the run's outcome stands whatever the view's
        logger.exception("sync.views.refresh_failed", crm_object=object)
        return "failed"


def mirror_view_refresh_from_crm(
    *, organization: Organization, object: str, connection: ProviderAccount | None = None
) -> str:
    """Read the object's field specs from the organization's CRM and refresh its view (manage.py sync views)."""
    if not _postgresql():
        return "skipped"
    provider = run_provider(organization=organization, connection=connection)
    return mirror_view_refresh(spec=provider.object_spec(object=object))


# --- SQL -----------------------------------------------------------------------------------------------------
# A cast per SQL type, guarded by the JSON value's type or shape: {t} its jsonb_typeof, {v} its text, {j} the jsonb.
# The typed ELSE keeps numeric(14,2) on the view's column (a bare CASE would widen it to numeric).
GUARDED_CASTS = {
    "bigint": "CASE WHEN {t} = 'number' AND {v} ~ '^-?[0-9]{{1,18}}$' THEN {v}::bigint END",
    "numeric": "CASE WHEN {t} = 'number' THEN {v}::numeric END",
    "numeric(14,2)": (
        "CASE WHEN {t} = 'number' AND abs({v}::numeric) < 1e12 THEN {v}::numeric(14, 2) ELSE NULL::numeric(14, 2) END"
    ),
    "boolean": "CASE WHEN {t} = 'boolean' THEN {v}::boolean END",
    "date": "CASE WHEN {t} = 'string' AND {v} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$' THEN {v}::date END",
    "timestamptz": (
        "CASE WHEN {t} = 'string' AND {v} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9:.]+(Z|[+-][0-9:]+)$' "
        "THEN {v}::timestamptz END"
    ),
    "text[]": "CASE WHEN {t} = 'array' THEN ARRAY(SELECT jsonb_array_elements_text({j})) END",
}
SQL_TYPES = {"text", "jsonb", *GUARDED_CASTS}


def _expression(column: ViewColumn) -> sql.Composable:
    key = sql.Literal(column.key)
    text = sql.SQL("(fields ->> {})").format(key)
    value = sql.SQL("(fields -> {})").format(key)
    if column.cast == "text":
        return text
    if column.cast == "jsonb":
        return value
    typeof = sql.SQL("jsonb_typeof(fields -> {})").format(key)
    return sql.SQL(GUARDED_CASTS[column.cast]).format(t=typeof, v=text, j=value)


def _create_statement(name: str, object: str, columns: list[ViewColumn], *, replace: bool) -> sql.Composed:
    selected = [sql.Identifier(column) for column in COMMON_COLUMNS]
    selected += [sql.SQL("{} AS {}").format(_expression(column), sql.Identifier(column.name)) for column in columns]
    return sql.SQL("CREATE {replace}VIEW {name} AS SELECT {columns} FROM {table} WHERE object = {object}").format(
        replace=sql.SQL("OR REPLACE " if replace else ""),
        name=sql.Identifier(name),
        columns=sql.SQL(", ").join(selected),
        table=sql.Identifier(CrmRecord._meta.db_table),
        object=sql.Literal(object),
    )


def _comment_statement(name: str, columns: list[ViewColumn]) -> sql.Composed:
    text = COMMENT_PREFIX + json.dumps({"columns": [column.as_list() for column in columns]}, separators=(",", ":"))
    return sql.SQL("COMMENT ON VIEW {} IS {}").format(sql.Identifier(name), sql.Literal(text))


def _drop_statement(name: str) -> sql.Composed:
    return sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(name))


def _execute(*statements: sql.Composed) -> None:
    """Run the statements in one transaction (DDL is transactional in PostgreSQL)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string(cursor.cursor.connection))


def _stored_columns(name: str) -> tuple[bool, list[ViewColumn]]:
    """Whether the view exists, and the column definitions its COMMENT holds ([] if it has none we wrote)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid IS NOT NULL, obj_description(c.oid, 'pg_class') "
            "FROM (SELECT to_regclass(quote_ident(%s)) AS oid) AS c",
            [name],
        )
        exists, comment = cursor.fetchone()
    if not exists or not comment or not comment.startswith(COMMENT_PREFIX):
        return bool(exists), []
    try:
        stored = json.loads(comment[len(COMMENT_PREFIX) :])["columns"]
        columns = [ViewColumn(*map(str, item)) for item in stored]
    except (ValueError, KeyError, TypeError):
        return True, []
    return True, [column for column in columns if column.cast in SQL_TYPES]


def _merged(previous: list[ViewColumn], current: list[ViewColumn]) -> list[ViewColumn]:
    """The previous columns with their types as the spec now has them, then the spec's new columns."""
    now = {column.name: column for column in current}
    kept = [now.get(column.name, column) for column in previous]
    known = {column.name for column in kept}
    return _distinct(kept + [column for column in current if column.name not in known])


def _distinct(columns: list[ViewColumn]) -> list[ViewColumn]:
    """One column per name as PostgreSQL sees it (first wins), none shadowing a common column."""
    seen = set(COMMON_COLUMNS)
    result = []
    for column in columns:
        name = column.name[:MAX_IDENTIFIER]
        if name and name not in seen:
            seen.add(name)
            result.append(ViewColumn(name, column.cast, column.key))
    return result
