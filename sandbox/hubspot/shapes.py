"""How records look in HubSpot's answers (list, read, batch, search alike).

A record: `{"id": "101", "properties": {name: text | null}, "createdAt", "updatedAt", "archived": false}` (plus
`archivedAt` for archived records, `associations` when asked for, `propertiesWithHistory` when asked for: each
value a write set, newest first, with its timestamp and sourceType (the change source) and sourceId; seeded
values show as one IMPORT entry).
Properties are opt-in: without `properties` the object type's defaults are shown (catalog.py); names the portal
does not define are left out silently, defined ones without a value show as null. Values are strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.catalog import ObjectType, association_type, association_type_name, resolve

if TYPE_CHECKING:
    from sandbox.hubspot.state import Portal

Record = dict[str, Any]


def shown_properties(portal: Portal, kind: ObjectType, asked: Iterable[str] | None) -> list[str]:
    """The property names an answer shows: the asked ones the portal defines, or the type's defaults."""
    names = list(asked or ())
    if not names:
        return list(kind.default_properties)
    definitions = portal.properties[kind.name]
    return [name for name in dict.fromkeys(names) if name in definitions]


def record_json(
    portal: Portal,
    kind: ObjectType,
    record: Record,
    names: list[str],
    *,
    associations: Iterable[str] = (),
    with_history: Iterable[str] = (),
) -> Record:
    """One record as HubSpot answers it, showing the properties `names` (see shown_properties)."""
    values = record["properties"]
    shown: Record = {
        "id": record["id"],
        "properties": {name: values.get(name) for name in names},
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": bool(record.get("archived")),
    }
    if record.get("archived"):
        shown["archivedAt"] = record.get("archivedAt")
    history = [name for name in with_history if name in portal.properties[kind.name]]
    if history:
        kept = record.get("_history") or {}
        shown["propertiesWithHistory"] = {
            name: kept.get(name)
            or (
                [{"value": values[name], "timestamp": record["createdAt"], "sourceType": "IMPORT"}]
                if name in values
                else []
            )
            for name in history
        }
    linked = association_json(portal, kind, record["id"], associations)
    if linked:
        shown["associations"] = linked
    return shown


def association_json(portal: Portal, kind: ObjectType, record_id: str, targets: Iterable[str]) -> Record:
    """v3's `associations` of a record: {to type name: {"results": [{"id", "type"}]}}, types with none left out."""
    found: Record = {}
    for target in targets:
        other = resolve(target)
        if other is None:
            continue
        results = []
        for other_id, type_ids in portal.associations.of(kind.name, record_id, other.name, alive=portal.alive):
            for type_id in type_ids:
                defined = association_type(kind.name, other.name, type_id)
                if defined is not None:
                    results.append({"id": other_id, "type": association_type_name(kind.name, other.name, defined)})
        if results:
            found[other.name] = {"results": results}
    return found


def batch_answer(results: list[Record], errors: list[Record], started: str, completed: str) -> tuple[Record, int]:
    """A batch endpoint's body and status: 200 COMPLETE, or 207 with `errors` and `numErrors` when any failed."""
    body: Record = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": completed}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return body, 207
    return body, 200
