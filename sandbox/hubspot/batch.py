"""Batch endpoints of the objects API (both path families): read, create, update, upsert, archive.

Each takes `{inputs: [...]}` with at most `hs_batch_max_inputs` (100, UNCONFIRMED) inputs (more: 400). Answers:
`{status: "COMPLETE", results, startedAt, completedAt}`; when some inputs failed, 207 Multi-Status with
`numErrors` and `errors: [{status: "error", category, message, context, errors}]`.

- `batch/read {inputs: [{id}], properties, propertiesWithHistory, idProperty}` (`?archived=true` reads archived
  ones): ids not found -> one OBJECT_NOT_FOUND error listing them (context.ids), 207.
- `batch/create {inputs: [{properties, associations, objectWriteTraceId?}]}` -> 201. A bad input fails the whole
  batch (400, nothing written) unless every input carries an `objectWriteTraceId` (multi-status error handling):
  then bad inputs are per-item errors (context.objectWriteTraceId) and the others are written, 207.
- `batch/update {inputs: [{id, idProperty?, properties, objectWriteTraceId?}]}` -> 200; ids not found are
  per-item OBJECT_NOT_FOUND errors (207); a bad value fails the whole batch (400, nothing written: HubSpot
  documents multi-status error handling for batch create only); the same id twice: 400 "Duplicate IDs found in
  batch input".
- `batch/upsert {inputs: [{id, idProperty, properties, objectWriteTraceId?}]}` -> 200 with `new` per result;
  `idProperty` must be a unique-value property (hasUniqueValue; contacts also by `email`): else 400; a bad value
  fails the whole batch as update's. A contact's email another contact holds fails either whole: 409 CONFLICT
  "Contact already exists. Existing ID: N", as the single create and update answer.
- `batch/archive {inputs: [{id}]}` -> 204.

Values are checked as the portal checks API writes (`Portal.check_write`: its property validation rules, and
unique-value properties another record holds). Results echo an input's `objectWriteTraceId`. Records written
are tallied (`Portal.written`: the kit counter `hubspot.records_written:<portal id>`).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import Call, Problem, both_families, hs_endpoint, validation_error
from sandbox.hubspot.catalog import ObjectType
from sandbox.hubspot.objects import (
    all_properties,
    check_associations,
    email_conflict,
    kind_of,
    property_errors,
    read_scopes,
    write_scopes,
)
from sandbox.hubspot.schema import iso_ms
from sandbox.hubspot.shapes import batch_answer, record_json, shown_properties
from sandbox.kit.http import json_response, no_content

Record = dict[str, Any]


def _inputs(call: Call) -> tuple[Record, list[Record]]:
    body = call.body()
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise Problem(validation_error("Invalid input JSON: inputs must be a list."))
    inputs = body["inputs"]
    cap = call.config.hs_batch_max_inputs
    if len(inputs) > cap:
        raise Problem(validation_error(f"Batch input size {len(inputs)} exceeds the limit of {cap}."))
    if not all(isinstance(item, dict) for item in inputs):
        raise Problem(validation_error("Invalid input JSON: each input must be an object."))
    return body, inputs


def _now(call: Call) -> str:
    return iso_ms(call.sandbox.clock.now())


def _answer(call: Call, results: list[Record], errors: list[Record], started: str, ok_status: int = 200) -> Response:
    body, status = batch_answer(results, errors, started, _now(call))
    return json_response(body, ok_status if status == 200 else status)


def _item_error(category: str, message: str, context: Record, errors: list[Record] | None = None) -> Record:
    error: Record = {"status": "error", "category": category, "message": message, "context": context}
    if errors is not None:
        error["errors"] = errors
    return error


def _problems(
    call: Call, kind: ObjectType, values: Any, record_id: str | None = None
) -> tuple[dict[str, str], list[Record]]:
    if not isinstance(values, dict):
        return {}, [
            {
                "isValid": False,
                "message": "properties must be an object",
                "error": "INVALID_INPUT",
                "name": "properties",
            }
        ]
    clean, errors = call.portal.check_write(kind.name, values, record_id=record_id)
    if kind.name == "tasks" and "hs_timestamp" in values and not clean.get("hs_timestamp") and not errors:
        errors.append(
            {
                "isValid": False,
                "message": "hs_timestamp is required",
                "error": "REQUIRED_PROPERTY",
                "name": "hs_timestamp",
            }
        )
    return clean, errors


def _traced(inputs: list[Record]) -> bool:
    return bool(inputs) and all(item.get("objectWriteTraceId") for item in inputs)


def _validation_item(item: Record, errors: list[Record]) -> Record:
    trace = item.get("objectWriteTraceId")
    detail = [{key: error[key] for key in ("isValid", "message", "error", "name")} for error in errors]
    return _item_error(
        "VALIDATION_ERROR",
        "Property values were not valid: " + json.dumps(detail),
        {"objectWriteTraceId": [str(trace)]} if trace else {},
        [
            {"message": error["message"], "code": error["error"], "context": {"propertyName": [error["name"]]}}
            for error in errors
        ],
    )


@hs_endpoint(scopes=read_scopes)
def batch_read(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    started = _now(call)
    body, inputs = _inputs(call)
    names = shown_properties(call.portal, kind, body.get("properties") or [])
    history = body.get("propertiesWithHistory") or []
    id_property = body.get("idProperty")
    archived = call.flag("archived")
    results, missing = [], []
    for item in inputs:
        wanted = str(item.get("id") or "")
        if archived:
            record = call.portal.get(kind.name, wanted, archived=True)
        elif id_property and id_property != "hs_object_id":
            record = call.portal.find_by(kind.name, id_property, wanted)
        else:
            record = call.portal.get(kind.name, wanted)
        if record is None:
            missing.append(wanted)
        else:
            results.append(record_json(call.portal, kind, record, names, with_history=history))
    errors = []
    if missing:
        errors.append(
            _item_error(
                "OBJECT_NOT_FOUND",
                f"Could not get some {kind.label} objects, they may be deleted or not exist. Check that ids are valid.",
                {"ids": missing},
            )
        )
    return _answer(call, results, errors, started)


@hs_endpoint(scopes=write_scopes)
def batch_create(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    started = _now(call)
    _, inputs = _inputs(call)
    traced = _traced(inputs)
    checked: list[tuple[Record, dict[str, str], list, list[Record]]] = []
    for item in inputs:
        clean, errors = _problems(call, kind, item.get("properties") or {})
        if (
            kind.name == "tasks"
            and not clean.get("hs_timestamp")
            and not any(e["name"] == "hs_timestamp" for e in errors)
        ):
            errors.append(
                {
                    "isValid": False,
                    "message": "hs_timestamp is required",
                    "error": "REQUIRED_PROPERTY",
                    "name": "hs_timestamp",
                }
            )
        links: list = []
        if not errors:
            try:
                links = check_associations(call, kind, item.get("associations"))
            except Problem as problem:
                if not traced:
                    raise
                message = problem.response.get_json().get("message", "invalid association")
                errors.append(
                    {"isValid": False, "message": message, "error": "INVALID_ASSOCIATION", "name": "associations"}
                )
        checked.append((item, clean, links, errors))
    if not traced:
        bad = [errors for _, _, _, errors in checked if errors]
        if bad:
            raise Problem(property_errors(bad[0]))
    results, failures = [], []
    for item, clean, links, errors in checked:
        if errors:
            failures.append(_validation_item(item, errors))
            continue
        record = call.portal.create(kind.name, clean, source=call.source)
        for target, to_id, type_id in links:
            call.portal.associate(kind.name, record["id"], target, to_id, type_id, source=call.source)
        shown = record_json(call.portal, kind, record, all_properties(record))
        if item.get("objectWriteTraceId"):
            shown["objectWriteTraceId"] = str(item["objectWriteTraceId"])
        results.append(shown)
    call.portal.written(len(results))
    return _answer(call, results, failures, started, ok_status=201)


def _traced_json(call: Call, kind: ObjectType, record: Record, item: Record) -> Record:
    shown = record_json(call.portal, kind, record, all_properties(record))
    if item.get("objectWriteTraceId"):
        shown["objectWriteTraceId"] = str(item["objectWriteTraceId"])
    return shown


def _duplicates(inputs: list[Record]) -> None:
    seen: set[str] = set()
    for item in inputs:
        key = str(item.get("id"))
        if key in seen:
            raise Problem(validation_error(f"Duplicate IDs found in batch input: [{key}]. IDs must be unique"))
        seen.add(key)


@hs_endpoint(scopes=write_scopes)
def batch_update(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    started = _now(call)
    _, inputs = _inputs(call)
    _duplicates(inputs)
    plan, failures, missing = [], [], []
    for item in inputs:
        wanted = str(item.get("id") or "")
        id_property = item.get("idProperty")
        record = (
            call.portal.find_by(kind.name, id_property, wanted)
            if id_property and id_property != "hs_object_id"
            else call.portal.get(kind.name, wanted)
        )
        clean, errors = _problems(call, kind, item.get("properties") or {}, record["id"] if record else None)
        if errors:
            raise Problem(property_errors(errors))
        email_conflict(call, kind, clean, record["id"] if record else None)
        if record is None:
            missing.append(wanted)
        else:
            plan.append((item, record["id"], clean))
    results = []
    for item, record_id, clean in plan:
        record = call.portal.update(kind.name, record_id, clean, source=call.source)
        results.append(_traced_json(call, kind, record, item))
    call.portal.written(len(results))
    if missing:
        failures.append(
            _item_error(
                "OBJECT_NOT_FOUND",
                f"Could not update some {kind.label} objects, they may be deleted or not "
                "exist. Check that ids are valid.",
                {"ids": missing},
            )
        )
    return _answer(call, results, failures, started)


def unique_id_property(call: Call, kind: ObjectType, name: str | None) -> str:
    meta = call.portal.properties[kind.name].get(name or "")
    if meta is None:
        raise Problem(validation_error(f"Property {name!r} does not exist on {kind.label}"))
    if not meta.get("hasUniqueValue") and not (kind.name == "contacts" and name == "email"):
        raise Problem(
            validation_error(f"{name} is not a unique value property; upserts need an idProperty with hasUniqueValue")
        )
    return str(name)


@hs_endpoint(scopes=write_scopes)
def batch_upsert(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    started = _now(call)
    _, inputs = _inputs(call)
    _duplicates(inputs)
    plan = []
    for item in inputs:
        id_property = unique_id_property(call, kind, item.get("idProperty"))
        wanted = str(item.get("id") or "")
        if not wanted:
            raise Problem(validation_error("Each upsert input needs an id (the idProperty's value)."))
        existing = call.portal.find_by(kind.name, id_property, wanted)
        values = {**(item.get("properties") or {})}
        clean, errors = _problems(call, kind, values, existing["id"] if existing else None)
        if errors:
            raise Problem(property_errors(errors))
        email_conflict(call, kind, clean, existing["id"] if existing else None)
        plan.append((item, id_property, wanted, clean))
    results = []
    for item, id_property, wanted, clean in plan:
        record = call.portal.find_by(kind.name, id_property, wanted)
        if record is None:
            values = {**clean, id_property: wanted}
            if kind.name == "tasks" and not values.get("hs_timestamp"):
                values["hs_timestamp"] = iso_ms(call.sandbox.clock.now())
            record = call.portal.create(kind.name, values, source=call.source)
            created = True
        else:
            record = call.portal.update(kind.name, record["id"], clean, source=call.source)
            created = False
        shown = _traced_json(call, kind, record, item)
        shown["new"] = created
        results.append(shown)
    call.portal.written(len(results))
    return _answer(call, results, [], started)


@hs_endpoint(scopes=write_scopes)
def batch_archive(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    _, inputs = _inputs(call)
    archived = 0
    for item in inputs:
        archived += call.portal.archive(kind.name, str(item.get("id") or ""), source=call.source) is not None
    call.portal.written(archived)
    return no_content()


ROUTES = [
    *both_families("objects", "/<object_type>/batch/read", ["POST"], batch_read),
    *both_families("objects", "/<object_type>/batch/create", ["POST"], batch_create),
    *both_families("objects", "/<object_type>/batch/update", ["POST"], batch_update),
    *both_families("objects", "/<object_type>/batch/upsert", ["POST"], batch_upsert),
    *both_families("objects", "/<object_type>/batch/archive", ["POST"], batch_archive),
]
