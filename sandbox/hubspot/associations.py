"""Associations v4 (legacy `/hubspot/crm/v4/...`, date-versioned `/hubspot/crm/associations/<YYYY-MM>/...` and
`/hubspot/crm/objects/<YYYY-MM>/{from}/{id}/associations/...`).

- `POST associations/{from}/{to}/batch/read {inputs: [{id, after?}]}` -> {status, results: [{from: {id}, to:
  [{toObjectId (a number), associationTypes: [{category, typeId, label}]}], paging?}], startedAt, completedAt}; a
  result carries `paging.next.after` only when its record has more than `hs_associations_page_max` associations
  (the next input `{id, after}` continues it). Records with none: a per-item error (subCategory
  crm.associations.NO_ASSOCIATIONS_FOUND), 207.
- `GET associations/{from}/{to}/labels` -> {results: [{category, typeId, label}]} (label null: the default).
- `POST associations/{from}/{to}/batch/create {inputs: [{from: {id}, to: {id}, types: [{associationCategory,
  associationTypeId}]}]}`, `batch/associate/default {inputs: [{from: {id}, to: {id}}]}`, `batch/archive
  {inputs: [{from: {id}, to: [{id}]}]}`.
- `PUT objects/{from}/{id}/associations/default/{to}/{toId}` -> 200 with both directions' specs (objects/ on
  /crm/v4, /crm/v3 or the date version);
  `PUT objects/{from}/{id}/associations/{to}/{toId} [{associationCategory, associationTypeId}]` -> 201;
  `GET objects/{from}/{id}/associations/{to}` -> {results: [{toObjectId, associationTypes}]};
  `DELETE objects/{from}/{id}/associations/{to}/{toId}` -> 204.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import PREFIX, Call, Problem, hs_endpoint, not_found, validation_error
from sandbox.hubspot.catalog import ObjectType, association_type, association_types, default_association, resolve
from sandbox.hubspot.objects import kind_of
from sandbox.hubspot.schema import iso_ms
from sandbox.hubspot.shapes import batch_answer
from sandbox.kit.http import json_response, no_content


def _read(from_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(from_type)
    return kind.read_scopes() if kind else ()


def _write(from_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(from_type)
    return kind.write_scopes() if kind else ()


def _pair(from_type: str, to_type: str) -> tuple[ObjectType, ObjectType]:
    left, right = kind_of(from_type), kind_of(to_type)
    if not association_types(left.name, right.name):
        raise Problem(validation_error(f"No association types exist from {left.label} to {right.label}"))
    return left, right


def _types_json(left: str, right: str, type_ids: list[int]) -> list[dict[str, Any]]:
    found = [association_type(left, right, type_id) for type_id in type_ids]
    return [kind.as_json() for kind in found if kind is not None]


def _inputs(call: Call) -> list[dict[str, Any]]:
    body = call.body()
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise Problem(validation_error("Invalid input JSON: inputs must be a list."))
    if len(body["inputs"]) > max(call.config.hs_batch_max_inputs, 1000):
        raise Problem(validation_error("Too many inputs."))
    return [item for item in body["inputs"] if isinstance(item, dict)]


@hs_endpoint(scopes=_read)
def batch_read(call: Call, from_type: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    started = iso_ms(call.sandbox.clock.now())
    size = call.config.hs_associations_page_max
    results, errors = [], []
    for item in _inputs(call):
        from_id = str(item.get("id") or "")
        linked = call.portal.associations.of(left.name, from_id, right.name, alive=call.portal.alive)
        after = str(item.get("after") or "")
        if after:
            linked = [pair for pair in linked if int(pair[0]) > int(after)] if after.isdigit() else []
        if not linked or not call.portal.alive(left.name, from_id):
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {right.singular} is associated with {left.singular} {from_id}.",
                    "context": {"fromObjectId": [from_id], "toObjectType": [right.singular]},
                }
            )
            continue
        page = linked[:size]
        result: dict[str, Any] = {
            "from": {"id": from_id},
            "to": [
                {"toObjectId": int(other_id), "associationTypes": _types_json(left.name, right.name, type_ids)}
                for other_id, type_ids in page
            ],
        }
        if len(linked) > size:
            result["paging"] = {"next": {"after": page[-1][0], "link": None}}
        results.append(result)
    body, status = batch_answer(results, errors, started, iso_ms(call.sandbox.clock.now()))
    return json_response(body, status)


@hs_endpoint(scopes=_read)
def labels(call: Call, from_type: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    return json_response({"results": [kind.as_json() for kind in association_types(left.name, right.name)]})


def _associate(call: Call, left: ObjectType, right: ObjectType, from_id: str, to_id: str, type_id: int | None) -> int:
    for kind, record_id in ((left, from_id), (right, to_id)):
        if not call.portal.alive(kind.name, record_id):
            raise Problem(not_found(f"No {kind.singular} with id {record_id} exists.", id=[record_id]))
    if type_id is not None and association_type(left.name, right.name, type_id) is None:
        raise Problem(validation_error(f"{type_id} is not a valid association type from {left.label} to {right.label}"))
    call.portal.associate(left.name, from_id, right.name, to_id, type_id, source=call.source)
    found = association_type(left.name, right.name, type_id) if type_id is not None else None
    return (found or default_association(left.name, right.name)).type_id  # type: ignore[union-attr]


@hs_endpoint(scopes=_write)
def batch_create(call: Call, from_type: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    started = iso_ms(call.sandbox.clock.now())
    results = []
    for item in _inputs(call):
        from_id, to_id = str((item.get("from") or {}).get("id")), str((item.get("to") or {}).get("id"))
        type_ids = [spec.get("associationTypeId") for spec in item.get("types") or [{}]]
        made = [_associate(call, left, right, from_id, to_id, None if tid is None else int(tid)) for tid in type_ids]
        results.append(
            {
                "fromObjectTypeId": left.type_id,
                "fromObjectId": int(from_id),
                "toObjectTypeId": right.type_id,
                "toObjectId": int(to_id),
                "labels": [
                    association_type(left.name, right.name, tid).label
                    for tid in made  # type: ignore[union-attr]
                    if association_type(left.name, right.name, tid).label
                ],  # type: ignore[union-attr]
            }
        )
    body, _ = batch_answer(results, [], started, iso_ms(call.sandbox.clock.now()))
    return json_response(body, 201)


@hs_endpoint(scopes=_write)
def batch_default(call: Call, from_type: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    started = iso_ms(call.sandbox.clock.now())
    results = []
    for item in _inputs(call):
        from_id, to_id = str((item.get("from") or {}).get("id")), str((item.get("to") or {}).get("id"))
        _associate(call, left, right, from_id, to_id, None)
        results.extend(_default_specs(left, right, from_id, to_id))
    body, _ = batch_answer(results, [], started, iso_ms(call.sandbox.clock.now()))
    return json_response(body)


@hs_endpoint(scopes=_write)
def batch_archive(call: Call, from_type: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    for item in _inputs(call):
        from_id = str((item.get("from") or {}).get("id"))
        for target in item.get("to") or []:
            call.portal.associations.remove(left.name, from_id, right.name, str((target or {}).get("id")))
    return no_content()


def _default_specs(left: ObjectType, right: ObjectType, from_id: str, to_id: str) -> list[dict[str, Any]]:
    forward = default_association(left.name, right.name)
    if forward is None:  # _pair refused pairs without association types already
        raise Problem(validation_error(f"No association types exist from {left.label} to {right.label}"))
    return [
        {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {"associationCategory": forward.category, "associationTypeId": forward.type_id},
        },
        {
            "from": {"id": to_id},
            "to": {"id": from_id},
            "associationSpec": {"associationCategory": forward.category, "associationTypeId": forward.inverse_id},
        },
    ]


@hs_endpoint(scopes=_write)
def put_default(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Response:
    left, right = _pair(from_type, to_type)
    started = iso_ms(call.sandbox.clock.now())
    _associate(call, left, right, from_id, to_id, None)
    body, _ = batch_answer(_default_specs(left, right, from_id, to_id), [], started, iso_ms(call.sandbox.clock.now()))
    return json_response(body)


@hs_endpoint(scopes=_write)
def put_labeled(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Response:
    left, right = _pair(from_type, to_type)
    specs = call.body()
    if not isinstance(specs, list) or not specs:
        raise Problem(validation_error("Invalid input JSON: a list of association types is expected."))
    for spec in specs:
        _associate(call, left, right, from_id, to_id, int((spec or {}).get("associationTypeId") or 0))
    linked = dict(call.portal.associations.of(left.name, from_id, right.name))
    return json_response(
        {
            "fromObjectTypeId": left.type_id,
            "fromObjectId": int(from_id),
            "toObjectTypeId": right.type_id,
            "toObjectId": int(to_id),
            "labels": [
                kind["label"] for kind in _types_json(left.name, right.name, linked.get(to_id, [])) if kind["label"]
            ],
        },
        201,
    )


@hs_endpoint(scopes=_read)
def list_for_record(call: Call, from_type: str, from_id: str, to_type: str) -> Response:
    left, right = _pair(from_type, to_type)
    linked = call.portal.associations.of(left.name, from_id, right.name, alive=call.portal.alive)
    return json_response(
        {
            "results": [
                {"toObjectId": int(other_id), "associationTypes": _types_json(left.name, right.name, type_ids)}
                for other_id, type_ids in linked
            ]
        }
    )


@hs_endpoint(scopes=_write)
def remove_for_record(call: Call, from_type: str, from_id: str, to_type: str, to_id: str) -> Response:
    left, right = _pair(from_type, to_type)
    call.portal.associations.remove(left.name, from_id, right.name, to_id)
    return no_content()


def _both(rest: str, methods: list[str], handler: Any) -> list[tuple[str, list[str], Any]]:
    return [
        (f"{PREFIX}/crm/v4/associations{rest}", methods, handler),
        (f"{PREFIX}/crm/associations/<version>{rest}", methods, handler),
    ]


def _on_objects(rest: str, methods: list[str], handler: Any) -> list[tuple[str, list[str], Any]]:
    return [
        (f"{PREFIX}/crm/v4/objects{rest}", methods, handler),
        (f"{PREFIX}/crm/v3/objects{rest}", methods, handler),  # a client on the legacy family may build it so
        (f"{PREFIX}/crm/objects/<version>{rest}", methods, handler),
    ]


RECORD = "/<from_type>/<from_id>/associations"
ROUTES = [
    *_both("/<from_type>/<to_type>/batch/read", ["POST"], batch_read),
    *_both("/<from_type>/<to_type>/labels", ["GET"], labels),
    *_both("/<from_type>/<to_type>/batch/create", ["POST"], batch_create),
    *_both("/<from_type>/<to_type>/batch/associate/default", ["POST"], batch_default),
    *_both("/<from_type>/<to_type>/batch/archive", ["POST"], batch_archive),
    *_on_objects(f"{RECORD}/default/<to_type>/<to_id>", ["PUT"], put_default),
    *_on_objects(f"{RECORD}/<to_type>/<to_id>", ["PUT"], put_labeled),
    *_on_objects(f"{RECORD}/<to_type>/<to_id>", ["DELETE"], remove_for_record),
    *_on_objects(f"{RECORD}/<to_type>", ["GET"], list_for_record),
]
