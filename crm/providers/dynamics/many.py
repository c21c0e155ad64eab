"""Many-record writes for two-way sync over the Dataverse Web API: upserts by an alternate key, updates and deletes,
and the source tag of a row (who modified it last).

- `records_upsert`: `PATCH <set>(<key column>='<value>')` per row with no If-Match/If-None-Match header, so Dataverse
  creates the row or updates it (docs: update-delete-entities-using-web-api, "Use Upsert"); a retried upsert finds
  the row its first try made, so it never duplicates one. `Prefer: return=representation` (with `$select` of the
  primary id only) tells a create (201) from an update (200); without it both answer 204 (UNCONFIRMED for upserts:
  the docs show 201/200 for creates and updates returning data; the emulator answers so).
- `records_update`: `PATCH <set>(<id>)` with `If-Match: *`, so an update never creates: a row deleted meanwhile is
  404, that row's CrmNotFound.
- Both send MAX_PER_CALL operations in one `$batch`, each outside any change set and with `Prefer:
  odata.continue-on-error`: a change set is all-or-nothing (one refused row would roll the others back), while
  operations outside one are independent, so each refused row answers alone (a plug-in's 0x80040265, a duplicate key,
  a missing required column: that row's CrmRejected with Dataverse's code and message) and the others land.
  Operations Dataverse did not run (a batch it ended at a failure) are sent again. What stops the whole call
  (auth, throttling after the client's retries, an outage) is raised typed, as the client raises it.
- `record_delete`: `DELETE <set>(<id>)`; 404 (or an id that is no GUID) is False: a retried delete is no error.
  Dataverse has no recycle bin for API deletes (UNCONFIRMED: newer environments can turn on restoring deleted
  records, which the Web API's DELETE honours when the admin enabled it).
- `changed_by`: a row's `_modifiedby_value` is the system user who last changed it; the connection's application
  user (DynamicsConnection.application_user_id, from WhoAmI at connect) is Leadline's own: True; another user:
  False; a row read without the column, or a connection that does not know its user: None.

Values go through writes.column_body (the column's metadata types them), as the one-record writes do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crm.errors import CrmError, CrmRejected
from crm.providers.dynamics import writes
from crm.providers.dynamics.errors import PROVIDER, translate, translated
from crm.providers.dynamics.reads import guid
from crm.providers.dynamics.transport import BatchItemResult, BatchOperation, row_path
from crm.records import CanonicalRecord, WriteResult

MAX_PER_CALL = 100  # operations per $batch (Dataverse takes up to 1,000; a smaller batch keeps each call short)
MODIFIED_BY = "_modifiedby_value"
MODIFIED_BY_KEY = "modifiedby"


# --- writes ------------------------------------------------------------------------------------------------------
@translated
def records_upsert(
    provider: Any, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
) -> list[WriteResult]:
    """One WriteResult per row, in order: (id, created) or the row's own refusal."""
    table = writes.table_of(provider, object)
    metadata = writes.metadata_of(provider)
    entity_set = metadata.entity_set(table)
    primary_id = metadata.primary_id(table)
    field = str(external_id_field)
    results: dict[int, WriteResult] = {}
    pending: list[tuple[int, BatchOperation]] = []
    for index, values in enumerate(rows):
        try:
            key = upsert_key(metadata, table, field, values)
            body = writes.column_body(metadata, table, values, creating=True, leave_out=(field,))
        except CrmRejected as exc:
            results[index] = WriteResult(error=exc)
            continue
        path = f"{row_path(entity_set, key)}?$select={primary_id}"
        operation = BatchOperation("PATCH", path, body, headers={"Prefer": "return=representation"})
        pending.append((index, operation))

    def upserted(answer: BatchItemResult) -> WriteResult:
        row_id = answer.entity_id or guid((answer.body or {}).get(primary_id) if isinstance(answer.body, dict) else "")
        return WriteResult(record_id=row_id, created=answer.status == 201)

    send(provider, pending, results, upserted)
    return [results[index] for index in range(len(rows))]


@translated
def records_update(
    provider: Any, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[WriteResult]:
    """One WriteResult per (id, values), in order; an update with no values is done without a call."""
    table = writes.table_of(provider, object)
    metadata = writes.metadata_of(provider)
    entity_set = metadata.entity_set(table)
    results: dict[int, WriteResult] = {}
    pending: list[tuple[int, BatchOperation]] = []
    ids: dict[int, str] = {}
    for index, (record_id, values) in enumerate(updates):
        ids[index] = str(record_id)
        try:
            row_id = writes.checked_id(record_id)
            body = writes.column_body(metadata, table, values, creating=False) if values else {}
        except CrmRejected as exc:
            results[index] = WriteResult(record_id=str(record_id), error=exc)
            continue
        ids[index] = row_id
        if not body:
            results[index] = WriteResult(record_id=row_id)
            continue
        pending.append((index, BatchOperation("PATCH", row_path(entity_set, row_id), body, headers={"If-Match": "*"})))
    send(provider, pending, results, lambda answer: WriteResult())
    return [WriteResult(record_id=ids[index], error=results[index].error) for index in range(len(updates))]


def send(
    provider: Any,
    pending: list[tuple[int, BatchOperation]],
    results: dict[int, WriteResult],
    succeeded: Callable[[BatchItemResult], WriteResult],
) -> None:
    """The operations in $batch calls of MAX_PER_CALL, continuing past failures; each answer into `results`."""
    client = writes.client_of(provider)
    while pending:
        chunk, pending = pending[:MAX_PER_CALL], pending[MAX_PER_CALL:]
        answers = list(client.batch([operation for _, operation in chunk], continue_on_error=True) or [])
        unrun = [item for item, answer in zip(chunk, answers, strict=False) if not answer.executed]
        unrun += chunk[len(answers) :]
        for (index, _), answer in zip(chunk, answers, strict=False):
            if answer.executed:
                results[index] = succeeded(answer) if answer.ok else refused(answer)
        if len(unrun) == len(chunk):  # nothing ran: sending it again would not either
            raise CrmError("Dataverse ran none of the $batch's operations", provider=PROVIDER)
        pending = unrun + pending


def refused(answer: BatchItemResult) -> WriteResult:
    """A failed operation: its row's CrmRejected (CrmNotFound for a missing row); anything that is not about the
    row (auth, throttling, an outage) is raised for the whole call."""
    from crm.providers.dynamics.errors import DataverseRejected

    error = answer.error or DataverseRejected(f"Dataverse answered {answer.status}", status=answer.status)
    crm_error = translate(error)
    if isinstance(crm_error, CrmRejected):
        return WriteResult(error=crm_error)
    raise crm_error


def upsert_key(metadata: writes.Metadata, table: str, field: str, values: Mapping[str, Any]) -> Any:
    """The row's key in the URL: its alternate key column's value (or its id when the field is the primary id)."""
    value = values.get(field)
    if value in (None, ""):
        raise CrmRejected(f"upsert needs a value for {field}", provider=PROVIDER, field_errors={field: "required"})
    if field == metadata.primary_id(table):
        return writes.checked_id(value)
    spec = metadata.columns(table).get(field)
    if spec is None:
        problem = {field: "no such column"}
        raise CrmRejected(f"{table} has no column {field!r} to upsert by", provider=PROVIDER, field_errors=problem)
    try:
        return {field: writes.typed(spec, value)}
    except ValueError as exc:
        raise CrmRejected(str(exc), provider=PROVIDER, field_errors={field: str(exc)}) from None


@translated
def record_delete(provider: Any, *, object: str, record_id: str) -> bool:
    """True when the row was deleted, False when Dataverse had none."""
    row_id = guid(record_id)
    if not row_id:
        return False
    table = writes.table_of(provider, object)
    metadata = writes.metadata_of(provider)
    return bool(writes.client_of(provider).delete(metadata.entity_set(table), row_id))


# --- the source tag --------------------------------------------------------------------------------------------
def changed_by(provider: Any, record: CanonicalRecord) -> bool | None:
    """Whether the row's last change was the connection's application user's (no call)."""
    connection = writes.connection_of(provider)
    ours = guid(getattr(connection, "application_user_id", "") or "")
    raw = record.raw if isinstance(record.raw, Mapping) else {}
    if MODIFIED_BY in raw:
        by = guid(raw.get(MODIFIED_BY) or "")
    elif MODIFIED_BY_KEY in record.fields:
        by = guid(record.fields.get(MODIFIED_BY_KEY) or "")
    else:
        return None
    if not ours or not by:
        return None
    return by == ours


__all__ = ["MAX_PER_CALL", "changed_by", "record_delete", "records_update", "records_upsert"]
