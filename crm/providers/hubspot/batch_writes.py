"""Many records per call, for two-way sync: `upsert_many` (`POST objects/{type}/batch/upsert` by a unique property),
`update_many` (`POST objects/{type}/batch/update` by id), and `delete_record` (HubSpot's archive, its recycle bin).

HubSpot's batch update and upsert are all-or-nothing on validation: one refused value fails the whole call with a
400 VALIDATION_ERROR that names the property but not the input (multi-status error handling, 207 with per-input
errors, is documented for batch create only [H30]). So a refused batch is split and each part sent again, down to
single inputs: the inputs setting a property the refusal names apart from the rest (one call usually lands every
good input), else halves. The good inputs land (an all-or-nothing refusal wrote nothing, and upserts and updates
are idempotent anyway) and each refused input gets its own message; k refused inputs of n cost about k·log2(n)
calls more at worst. Errors HubSpot does report per input (an update's ids it does not have: OBJECT_NOT_FOUND with
`context.ids`) are matched to their inputs by `objectWriteTraceId` (each input carries its row's index) where the
answer gives it, else by the input's id. What stops a whole call (auth, HubSpot down, throttled after the client's
retries, the day's allowance used up) is raised, as every provider method's.

A batch never holds the same id twice (HubSpot refuses "Duplicate IDs found in batch input"): a repeated id starts
the next batch, so the later values land last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.hubspot.client import BATCH_MAX
from crm.providers.hubspot.errors import (
    PROVIDER,
    HubSpotNotFound,
    HubSpotRejected,
    HubSpotUriTooLong,
    translate,
    translated,
)
from crm.providers.hubspot.writes import (
    batch_parts,
    checked_id,
    client_of,
    named_properties,
    properties_text,
    property_text,
    rejection,
    require_unique,
)
from crm.records import WriteResult

ID_PROPERTY = "hs_object_id"


class Item:
    """One row of a many-record write: its index among the rows, the batch input, and the values as given (to name
    the refused properties)."""

    __slots__ = ("index", "input", "values")

    def __init__(self, index: int, payload: dict[str, Any], values: Mapping[str, Any]) -> None:
        self.index = index
        self.input = payload
        self.values = values

    @property
    def key(self) -> str:
        return str(self.input["id"])


def batches(items: list[Item]) -> list[list[Item]]:
    """Items in order, at most BATCH_MAX a batch, no id twice in one batch."""
    found: list[list[Item]] = []
    current: list[Item] = []
    keys: set[str] = set()
    for item in items:
        if len(current) >= BATCH_MAX or item.key in keys:
            found.append(current)
            current, keys = [], set()
        current.append(item)
        keys.add(item.key)
    if current:
        found.append(current)
    return found


# --- upsert ---------------------------------------------------------------------------------------------------------
@translated
def upsert_many(
    provider: Any, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
) -> list[WriteResult]:
    """Each row created or updated by its value of `external_id_field` (a unique-value property: another is refused
    before any call); one WriteResult per row, in order (`created` from the answer's `new`)."""
    object_type = provider.vendor_object(object)
    field = str(external_id_field)
    results: list[WriteResult | None] = [None] * len(rows)
    items = []
    for index, values in enumerate(rows):
        key = property_text(values.get(field))
        if not key:
            message = f"upsert needs a value for {field}"
            error = CrmRejected(message, provider=PROVIDER, code="REQUIRED", field_errors={field: "required"})
            results[index] = WriteResult(error=error)
            continue
        properties = properties_text({name: value for name, value in values.items() if name != field})
        payload = {"id": key, "idProperty": field, "properties": properties, "objectWriteTraceId": str(index)}
        items.append(Item(index, payload, values))
    if items:
        require_unique(provider, object_type, field)
    client = client_of(provider)

    def send(inputs: list[dict[str, Any]]) -> Any:
        return client.batch_upsert(object_type, inputs)

    def result_key(result: Mapping[str, Any]) -> str:
        return str((result.get("properties") or {}).get(field) or "")

    for batch in batches(items):
        for index, outcome in isolated(send, batch, result_key=result_key, upsert=True).items():
            results[index] = outcome
    return [outcome or WriteResult(error=_unanswered()) for outcome in results]


# --- update ---------------------------------------------------------------------------------------------------------
@translated
def update_many(provider: Any, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
    """Each (record id, values) set; one WriteResult per update, in order (a record HubSpot does not have: that
    result's CrmNotFound). An update with no values makes no call."""
    object_type = provider.vendor_object(object)
    results: list[WriteResult | None] = [None] * len(updates)
    items = []
    for index, (record_id, values) in enumerate(updates):
        try:
            checked = checked_id(record_id)
        except CrmNotFound as exc:
            results[index] = WriteResult(record_id=str(record_id), error=exc)
            continue
        if not values:
            results[index] = WriteResult(record_id=checked)
            continue
        payload = {"id": checked, "properties": properties_text(values), "objectWriteTraceId": str(index)}
        items.append(Item(index, payload, values))
    client = client_of(provider)

    def send(inputs: list[dict[str, Any]]) -> Any:
        return client.batch_update(object_type, inputs)

    def result_key(result: Mapping[str, Any]) -> str:
        return str(result.get("id") or "")

    for batch in batches(items):
        for index, outcome in isolated(send, batch, result_key=result_key, upsert=False).items():
            results[index] = outcome
    return [
        outcome or WriteResult(record_id=str(updates[index][0]), error=_unanswered())
        for index, outcome in enumerate(results)
    ]


# --- delete ---------------------------------------------------------------------------------------------------------
@translated
def delete_record(provider: Any, *, object: str, record_id: str) -> bool:
    """Archive the record (`DELETE objects/{type}/{id}`: HubSpot's recycle bin, restorable for a while); False when
    HubSpot has no live record of that id. HubSpot answers the DELETE 204 whether or not the record exists, so the
    record is read first (one more call; a 404 there is the answer)."""
    object_type = provider.vendor_object(object)
    text = str(record_id or "").strip()
    if not text.isdigit():
        return False
    client = client_of(provider)
    try:
        client.object_get(object_type, text, properties=(ID_PROPERTY,))
    except HubSpotNotFound:
        return False
    return bool(client.object_archive(object_type, text))


# --- one batch, refused inputs isolated ----------------------------------------------------------------------------
def isolated(
    send: Callable[[list[dict[str, Any]]], Any],
    batch: list[Item],
    *,
    result_key: Callable[[Mapping[str, Any]], str],
    upsert: bool,
) -> dict[int, WriteResult]:
    """The batch sent; a whole-call refusal split and sent again, down to the inputs it concerns: first the inputs
    setting a property the refusal names apart from the others (usually one call lands every good input), else
    in halves."""
    try:
        answer = send([item.input for item in batch])
    except HubSpotRejected as exc:
        if len(batch) == 1 or isinstance(exc, HubSpotNotFound | HubSpotUriTooLong):
            # One input, or a refusal of the request itself (an unknown object type): every input's answer.
            return {item.index: _refused(item, _row_error(exc, item.values), upsert) for item in batch}
        blamed = set(exc.properties)
        suspects = [item for item in batch if blamed & {*item.input["properties"], item.input.get("idProperty")}]
        if not 0 < len(suspects) < len(batch):
            suspects = batch[len(batch) // 2 :]
        others = [item for item in batch if item not in suspects]
        return {
            **isolated(send, others, result_key=result_key, upsert=upsert),
            **isolated(send, suspects, result_key=result_key, upsert=upsert),
        }
    return matched(answer, batch, result_key=result_key, upsert=upsert)


def matched(
    answer: Any, batch: list[Item], *, result_key: Callable[[Mapping[str, Any]], str], upsert: bool
) -> dict[int, WriteResult]:
    """Each input's result or per-input error: by objectWriteTraceId, else by the input's id (an upsert's unique
    value, an update's record id); results left over pair with inputs left over in order."""
    rows, errors = batch_parts(answer)
    by_trace = {str(item.input["objectWriteTraceId"]): item for item in batch}
    by_key = {item.key: item for item in batch}
    found: dict[int, WriteResult] = {}
    for error in errors:
        for item in _error_items(error, by_trace, by_key):
            found.setdefault(item.index, _refused(item, rejection(error, item.values), upsert))
    leftover = []
    for row in rows:
        item = by_trace.get(str(row.get("objectWriteTraceId") or "")) or by_key.get(result_key(row))
        if item is None or item.index in found:
            leftover.append(row)
            continue
        found[item.index] = _written(item, row, upsert)
    waiting = [item for item in batch if item.index not in found]
    for item, row in zip(waiting, leftover, strict=False):
        found[item.index] = _written(item, row, upsert)
    return found


def _error_items(error: Mapping[str, Any], by_trace: dict[str, Item], by_key: dict[str, Item]) -> list[Item]:
    context = error.get("context") or {}
    traces = context.get("objectWriteTraceId") or []
    ids = [error.get("id"), *_listed(context.get("ids")), *_listed(context.get("id"))]
    items = [by_trace[str(trace)] for trace in _listed(traces) if str(trace) in by_trace]
    items += [by_key[str(value)] for value in ids if value not in (None, "") and str(value) in by_key]
    return items


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _written(item: Item, row: Mapping[str, Any], upsert: bool) -> WriteResult:
    return WriteResult(record_id=str(row.get("id") or item.key), created=bool(upsert and row.get("new")))


def _refused(item: Item, error: CrmRejected, upsert: bool) -> WriteResult:
    return WriteResult(record_id="" if upsert else item.key, error=error)


def _row_error(exc: HubSpotRejected, values: Mapping[str, Any]) -> CrmRejected:
    """A refusal of one input as the crm.errors type, with the properties it blames (named in its message too)."""
    error = translate(exc)
    if not isinstance(error, CrmRejected):
        error = CrmRejected(exc.message, provider=PROVIDER, code=exc.category)
    if not error.field_errors:
        error.field_errors = named_properties({"message": exc.message, "errors": exc.errors}, values)
    return error


def _unanswered() -> CrmRejected:
    return CrmRejected("HubSpot's batch answer said nothing of this record", provider=PROVIDER, code="NO_ANSWER")
