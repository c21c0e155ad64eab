"""Texts on the record's timeline: each Activity becomes the engagement the connection's `timeline_activity` names,
associated with its record, created `batch/create` up to `max_activities_per_call` at a time.

    communication (default)  a Communications record: hs_communication_channel_type "SMS",
                             hs_communication_logged_from "CRM", hs_communication_body, hs_timestamp
    note                     a Note: hs_note_body, hs_timestamp
    task                     a COMPLETED Task: hs_task_subject, hs_task_body, hs_timestamp

Communications and notes have one rich-text body, so the subject and the text go in as two HTML paragraphs
(`activity_body`; `activity_text` reads them back). One result per activity, in order: HubSpot's refusal of one
input (a deleted contact's association) is that result's CrmRejected and the others land; what stops a batch
(auth, rate or daily limit, HubSpot down) is raised. A batch HubSpot refuses whole (no multi-status) is sent again
one record at a time, so each refusal finds its own activity.

When the portal's timeline object has the unique-value property `leadline_message_id` (KEY_PROPERTY, optional:
docs/crm/hubspot.md), each activity is upserted by its key instead (`batch/upsert`, then the associations in
`associations/batch/create`: two calls a batch), so a retried batch (a timeout after HubSpot took it) logs nothing
twice; without it a retry may.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crm.errors import CrmRejected
from crm.providers.hubspot import writes
from crm.providers.hubspot.errors import PROVIDER, HubSpotMissingScopes, HubSpotRejected, translate, translated
from crm.records import Activity, ActivityLogged

BATCH_MAX = writes.ACTIVITIES_PER_CALL
OBJECT_TYPES = {"communication": "communications", "note": "notes", "task": "tasks"}
DEFAULT_KIND = "communication"
CHANNELS = frozenset({"SMS", "WHATS_APP", "LINKEDIN_MESSAGE"})  # hs_communication_channel_type values
TRACE = "objectWriteTraceId"  # HubSpot echoes it in a batch item's error context: which input it was
# A unique-value text property the install guide has customers add to the timeline object (optional): when the
# portal has it, activities are upserted by their key, so a retried batch updates what it wrote instead of adding.
KEY_PROPERTY = "leadline_message_id"
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)


# --- the body --------------------------------------------------------------------------------------------------
def activity_body(subject: str, description: str = "") -> str:
    """The subject, then the text, as HTML paragraphs (HubSpot renders the body as rich text)."""
    parts = [subject, description] if description else [subject]
    return "".join(f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>" for part in parts)[: writes.TEXT_MAX]


def activity_text(body: str) -> tuple[str, str]:
    """(subject, description) of a body `activity_body` wrote; a body of other origin whole as the subject."""
    parts = [html.unescape(part.replace("<br>", "\n")) for part in _PARAGRAPH.findall(body or "")]
    if not parts:
        return html.unescape(body or ""), ""
    return parts[0], "\n".join(parts[1:])


# --- one activity as an input ----------------------------------------------------------------------------------
def timeline_kind(provider: Any) -> str:
    kind = str(getattr(writes.connection_of(provider), "timeline_activity", "") or DEFAULT_KIND)
    return kind if kind in OBJECT_TYPES else DEFAULT_KIND


def activity_properties(kind: str, activity: Activity, *, owner: str) -> dict[str, str]:
    """The engagement's properties for one Activity (its time, owner, subject and text)."""
    moment = activity.occurred_at or datetime.now(UTC)
    properties = {"hs_timestamp": writes.milliseconds(moment)}
    if kind == "task":
        properties.update(
            hs_task_subject=activity.subject[: writes.TEXT_MAX],
            hs_task_body=(activity.description or "")[: writes.TEXT_MAX],
            hs_task_status="COMPLETED",
            hs_task_priority=writes.TASK_PRIORITY,
            hs_task_type="TODO",
        )
    elif kind == "note":
        properties["hs_note_body"] = activity_body(activity.subject, activity.description)
    else:
        channel = (activity.activity_type or "").upper()
        properties.update(
            hs_communication_channel_type=channel if channel in CHANNELS else "SMS",
            hs_communication_logged_from="CRM",
            hs_communication_body=activity_body(activity.subject, activity.description),
        )
    owner = activity.owner_id or owner
    if owner:
        properties["hubspot_owner_id"] = str(owner)
    return properties


def activity_input(provider: Any, kind: str, activity: Activity, *, owner: str, trace: str) -> dict[str, Any]:
    """One batch/create input: properties, the association with the activity's record, and a trace id."""
    object_type = OBJECT_TYPES[kind]
    associations = []
    if activity.record_id:
        target = provider.vendor_object(activity.object)
        associations.append(writes.association(provider, object_type, target, activity.record_id))
    return {
        "properties": activity_properties(kind, activity, owner=owner),
        "associations": associations,
        TRACE: trace,
    }


# --- the batches -----------------------------------------------------------------------------------------------
@translated
def log_activities(provider: Any, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
    kind = timeline_kind(provider)
    object_type = OBJECT_TYPES[kind]
    owner = writes.default_owner(provider)
    results: dict[int, ActivityLogged] = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    for index, activity in enumerate(activities):
        try:
            pending.append((index, activity_input(provider, kind, activity, owner=owner, trace=str(index))))
        except CrmRejected as exc:  # an id that is none of HubSpot's: refused before any call
            results[index] = ActivityLogged(key=activity.key, error=exc)
    size = max(1, min(int(getattr(provider, "max_activities_per_call", BATCH_MAX) or BATCH_MAX), BATCH_MAX))
    client = writes.client_of(provider)
    upserting = bool(pending) and keyed(provider, object_type)
    for start in range(0, len(pending), size):
        chunk = pending[start : start + size]
        if upserting:
            results.update(upserted(provider, client, object_type, chunk, activities))
            continue
        try:
            answer = client.batch_create(object_type, [item for _, item in chunk])
        except HubSpotRejected as exc:
            if len(chunk) == 1:
                index = chunk[0][0]
                results[index] = ActivityLogged(key=activities[index].key, error=translate(exc))
                continue
            results.update(one_by_one(client, object_type, chunk, activities))  # refused whole: find which
            continue
        results.update(matched(chunk, answer, activities))
    return [results[index] for index in range(len(activities))]


def one_by_one(
    client: Any, object_type: str, chunk: list[tuple[int, dict[str, Any]]], activities: Sequence[Activity]
) -> dict[int, ActivityLogged]:
    """Each input of a batch HubSpot refused whole, created alone: a refusal is that activity's only."""
    found: dict[int, ActivityLogged] = {}
    for index, item in chunk:
        key = activities[index].key
        try:
            created = client.object_create(object_type, item["properties"], associations=item["associations"])
        except HubSpotRejected as exc:
            found[index] = ActivityLogged(key=key, error=translate(exc))
            continue
        found[index] = ActivityLogged(key=key, activity_id=str(created["id"]))
    return found


def matched(
    chunk: list[tuple[int, dict[str, Any]]], answer: Any, activities: Sequence[Activity]
) -> dict[int, ActivityLogged]:
    """A batch's answer matched to its inputs: errors by the trace id they echo (or the record they name), results
    by their trace id, else in order over the inputs no error claimed."""
    results, errors = writes.batch_parts(answer)
    traces = {str(item[TRACE]): index for index, item in chunk}
    found: dict[int, ActivityLogged] = {}
    unclaimed: list[Mapping[str, Any]] = []
    for error in errors:
        claimed = [index for index in error_inputs(error, chunk, traces) if index not in found]
        for index in claimed:
            found[index] = ActivityLogged(key=activities[index].key, error=writes.rejection(error))
        if not claimed:
            unclaimed.append(error)
    inputs = dict(chunk)
    landed = [index for index, _ in chunk if index not in found]
    by_trace = {str(result.get(TRACE)): result for result in results if result.get(TRACE) is not None}
    in_order = iter(result for result in results if result.get(TRACE) is None)
    for index in landed:
        result = by_trace.get(str(inputs[index][TRACE])) or next(in_order, None)
        if result is not None and result.get("id"):
            found[index] = ActivityLogged(key=activities[index].key, activity_id=str(result["id"]))
        else:  # HubSpot answered for fewer inputs than it was given: the unclaimed error, or none, is this one's
            error = unclaimed.pop(0) if unclaimed else {"message": "HubSpot gave no result for this activity"}
            found[index] = ActivityLogged(key=activities[index].key, error=writes.rejection(error))
    return found


def error_inputs(
    error: Mapping[str, Any], chunk: list[tuple[int, dict[str, Any]]], traces: Mapping[str, int]
) -> list[int]:
    """The inputs one batch error concerns: by `objectWriteTraceId` in its context, else by the record ids it
    names (a refused association names the contact it could not find)."""
    contexts = [error.get("context") or {}, *((item.get("context") or {}) for item in error.get("errors") or [])]
    named: list[str] = []
    for context in contexts:
        for name in (TRACE, "objectWriteTraceIds"):
            value = context.get(name)
            named.extend(str(item) for item in (value if isinstance(value, list) else [value] if value else []))
    if error.get(TRACE) is not None:
        named.append(str(error[TRACE]))
    by_trace = [traces[name] for name in named if name in traces]
    if by_trace:
        return list(dict.fromkeys(by_trace))
    ids: set[str] = set()
    for context in contexts:
        for name in ("ids", "id", "toObjectId", "toObjectIds", "objectIds"):
            value = context.get(name)
            ids.update(str(item) for item in (value if isinstance(value, list) else [value] if value else []))
    return [index for index, item in chunk if ids & {str(link["to"]["id"]) for link in item["associations"]}]


# --- upserts by the activity's key (KEY_PROPERTY) ----------------------------------------------------------------
def keyed(provider: Any, object_type: str) -> bool:
    """Whether the portal's timeline object has KEY_PROPERTY with unique values (upserts can match on it); when
    its properties cannot be read, the activities are created as without it."""
    try:
        definition = writes.property_definition(provider, object_type, KEY_PROPERTY)
    except (HubSpotRejected, HubSpotMissingScopes):
        return False
    return bool(definition and definition.get("hasUniqueValue"))


def upserted(
    provider: Any,
    client: Any,
    object_type: str,
    chunk: list[tuple[int, dict[str, Any]]],
    activities: Sequence[Activity],
) -> dict[int, ActivityLogged]:
    """One chunk upserted by key (batch/upsert takes no associations), then associated with its records: a key
    logged before is updated, never added twice. An association HubSpot refuses (a deleted contact) is that
    activity's refusal, and the engagement it would have hung on is archived when this call made it."""
    firsts: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, item in chunk:
        firsts.setdefault(activities[index].key, (index, item))  # one input per key: HubSpot refuses duplicates
    inputs = [
        {"id": key, "idProperty": KEY_PROPERTY, "properties": item["properties"], TRACE: item[TRACE]}
        for key, (_, item) in firsts.items()
    ]
    try:
        answers = [client.batch_upsert(object_type, inputs)]
    except HubSpotRejected:
        if len(inputs) == 1:
            raise
        answers = []
        for single in inputs:  # refused whole: each alone, so a refusal finds its own activity
            try:
                answers.append(client.batch_upsert(object_type, [single]))
            except HubSpotRejected as exc:
                answers.append({"errors": [{**error_of(exc), "context": {TRACE: [single[TRACE]]}}]})
    traces = {str(item[TRACE]): index for index, item in firsts.values()}
    done: dict[str, ActivityLogged] = {}
    made: dict[str, tuple[str, bool]] = {}  # key -> (engagement id, created now)
    for answer in answers:
        results, errors = writes.batch_parts(answer)
        for error in errors:
            for index in error_inputs(error, list(firsts.values()), traces):
                key = activities[index].key
                done[key] = ActivityLogged(key=key, error=writes.rejection(error))
        for result in results:
            key = str((result.get("properties") or {}).get(KEY_PROPERTY) or "")
            if key in firsts and result.get("id"):
                made[key] = (str(result["id"]), bool(result.get("new")))
    for key in firsts:
        if key not in done and key not in made:
            done[key] = ActivityLogged(key=key, error=writes.rejection({"message": "HubSpot gave no result for it"}))
    done.update(associated(provider, client, object_type, {key: firsts[key] for key in made}, made, activities))
    return {index: done[activities[index].key] for index, _ in chunk}


def associated(
    provider: Any,
    client: Any,
    object_type: str,
    firsts: Mapping[str, tuple[int, dict[str, Any]]],
    made: Mapping[str, tuple[str, bool]],
    activities: Sequence[Activity],
) -> dict[str, ActivityLogged]:
    """The upserted engagements associated with their records, one batch per record type (again one by one
    when HubSpot refuses a batch whole)."""
    done = {key: ActivityLogged(key=key, activity_id=made[key][0]) for key in firsts}
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, (index, item) in firsts.items():
        for link in item["associations"]:
            target = provider.vendor_object(activities[index].object)
            groups.setdefault(target, []).append(
                (key, {"from": {"id": made[key][0]}, "to": link["to"], "types": link["types"]})
            )
    for target, links in groups.items():
        path = client.paths.associations(object_type, target, "batch", "create")
        try:
            client.post(path, json={"inputs": [link for _, link in links]}, idempotent=True)
            continue
        except HubSpotRejected as exc:
            refused = {links[0][0]: exc} if len(links) == 1 else {}
        for key, link in links if not refused else ():
            try:
                client.post(path, json={"inputs": [link]}, idempotent=True)
            except HubSpotRejected as exc:
                refused[key] = exc
        for key, exc in refused.items():
            done[key] = ActivityLogged(key=key, error=translate(exc))
            engagement, created = made[key]
            if created:  # hanging on nothing: not left behind as an engagement no timeline shows
                client.object_archive(object_type, engagement)
    return done


def error_of(exc: HubSpotRejected) -> dict[str, Any]:
    return {"status": "error", "category": exc.category, "message": exc.message, "errors": exc.errors}


__all__ = ["PROVIDER", "activity_body", "activity_text", "log_activities"]
