"""Texts on a Dataverse record's timeline: each Activity becomes a completed task (statecode 1, statuscode 5) or a
completed row of the connection's custom SMS activity table (`DynamicsConnection.timeline_activity` "custom" and
`custom_activity_table`, e.g. lh_sms), regarding its lead or contact, in `$batch` calls of up to
ACTIVITY_BATCH_SIZE operations (one request each for service protection, with `Prefer: odata.continue-on-error`).

Idempotent: an activity's row id is uuid5 of (the Leadline organization, the activity's key), written with
`PATCH <set>(<id>)` and `If-None-Match: *` (create only). A retry of a text already logged answers 412 "A record with
matching key values already exists." and counts as logged: nothing is added twice. A refusal of one operation (a
deleted lead: 404) is that activity's CrmRejected and the others land; what stops the whole call (auth, service
protection after the client's waits, Dataverse down) is raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crm.errors import CrmError, CrmRejected
from crm.providers.dynamics import writes
from crm.providers.dynamics.errors import PROVIDER, DataverseRejected, translate, translated
from crm.providers.dynamics.transport import BatchItemResult, BatchOperation
from crm.records import Activity, ActivityLogged

# A fixed namespace for activity ids: the same (organization, key) is the same row in every process, every retry.
ACTIVITY_NAMESPACE = uuid.UUID("6c1f3b52-7d4e-5a8f-9b0c-2e4d6f8a1c3e")
BATCH_LIMIT = 1000  # operations Dataverse takes in one $batch
TASK_COMPLETED = {"statecode": 1, "statuscode": 5}
CUSTOM_COMPLETED = {"statecode": 1, "statuscode": 2}  # every custom activity table's Completed state and status
KEY_COLUMN_SUFFIX = "leadlinemessageid"  # the custom table's column for the message id (lh_leadlinemessageid)
ALREADY = 412  # If-None-Match: * on a row that exists: logged by an earlier try
TIMELINE_CUSTOM = "custom"
MOMENT_COLUMNS = ("actualstart", "actualend", "scheduledend")


def activity_id(organization_id: Any, key: str) -> str:
    """The row id of one activity: the same for every try of the same text."""
    return str(uuid.uuid5(ACTIVITY_NAMESPACE, f"{organization_id}:{key}"))


def timeline_table(provider: Any) -> str:
    """The activity table texts go to: the connection's custom table when it says so (and names one), else task."""
    connection = writes.connection_of(provider)
    if str(getattr(connection, "timeline_activity", "") or "") == TIMELINE_CUSTOM:
        table = str(getattr(connection, "custom_activity_table", "") or "").strip()
        if table:
            return table
    return writes.TASK


def key_column(metadata: writes.Metadata, table: str) -> str:
    """The custom table's column for Leadline's message id (the publisher's prefix + leadlinemessageid), if any."""
    if table == writes.TASK:
        return ""
    names = sorted(name for name in metadata.columns(table) if name.endswith(KEY_COLUMN_SUFFIX))
    return names[0] if names else ""


def activity_body(provider: Any, table: str, activity: Activity, *, key_name: str) -> dict[str, Any]:
    """The completed activity row of one text: subject, text, when it happened, its owner and its record."""
    moment = writes.iso_moment(activity.occurred_at or datetime.now(UTC))
    columns = writes.metadata_of(provider).columns(table)
    body: dict[str, Any] = {
        "subject": activity.subject[: writes.SUBJECT_MAX],
        "description": (activity.description or "")[: writes.DESCRIPTION_MAX],
        # When it happened, in the columns the table has (the timeline sorts by them).
        **{name: moment for name in MOMENT_COLUMNS if name in columns},
        **writes.owner_binding(activity.owner_id),
        **writes.regarding(provider, table, activity.object, activity.record_id),
    }
    if key_name:
        body[key_name] = activity.key
    body.update(TASK_COMPLETED if table == writes.TASK else CUSTOM_COMPLETED)
    return body


# --- the batches -----------------------------------------------------------------------------------------------
@translated
def activities_log(provider: Any, activities: Sequence[Activity] = (), **kwargs: Any) -> list[ActivityLogged]:
    """One result per activity, in order (`provider.log_activities(activities=...)` delegates here)."""
    activities = list(kwargs.pop("activities", activities))
    if not activities:
        return []
    table = timeline_table(provider)
    metadata = writes.metadata_of(provider)
    entity_set = metadata.entity_set(table)
    key_name = key_column(metadata, table)
    organization_id = getattr(writes.account_of(provider), "organization_id", "")
    results: dict[int, ActivityLogged] = {}
    pending: list[tuple[int, str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for index, activity in enumerate(activities):
        if activity.key in seen:  # the same text twice in one call: one row, the same answer
            continue
        seen[activity.key] = index
        row_id = activity_id(organization_id, activity.key)
        try:
            pending.append((index, row_id, activity_body(provider, table, activity, key_name=key_name)))
        except (CrmRejected, ValueError) as exc:  # an id that is none of Dataverse's: refused before any call
            error = exc if isinstance(exc, CrmRejected) else CrmRejected(str(exc), provider=PROVIDER)
            results[index] = ActivityLogged(key=activity.key, error=error)
    client = writes.client_of(provider)
    size = max_activities_per_call()
    while pending:
        chunk, pending = pending[:size], pending[size:]
        answers = list(client.batch([operation(entity_set, row_id, body) for _, row_id, body in chunk]) or [])
        unrun = [item for item, answer in zip(chunk, answers, strict=False) if not executed(answer)]
        unrun += chunk[len(answers) :]
        for (index, row_id, _), answer in zip(chunk, answers, strict=False):
            if executed(answer):
                results[index] = logged(activities[index].key, row_id, answer)
        if len(unrun) == len(chunk):  # nothing ran: sending it again would not either
            raise CrmError("Dataverse ran none of the $batch's operations", provider=PROVIDER)
        # Dataverse ends a batch at its first failure unless told to continue: what it never ran goes again.
        pending = unrun + pending
    return [results[seen[activity.key]] for activity in activities]


def executed(answer: BatchItemResult) -> bool:
    """Whether Dataverse ran the operation (False: an earlier failure ended the batch before it)."""
    return bool(getattr(answer, "executed", True))


def operation(entity_set: str, row_id: str, body: Mapping[str, Any]) -> BatchOperation:
    """One create-only operation of a $batch: PATCH <set>(<id>) with If-None-Match: *."""
    return BatchOperation(
        method="PATCH", path=f"{entity_set}({row_id})", body=dict(body), headers={"If-None-Match": "*"}
    )


def logged(key: str, row_id: str, answer: BatchItemResult) -> ActivityLogged:
    """One operation's answer: created (204/201) or there already (412: an earlier try logged it) is logged; a
    refusal is this activity's CrmRejected; what stops every activity (auth, throttling, an outage) is raised."""
    status = int(answer.status or 0)
    if status == ALREADY or (answer.error is None and 200 <= status < 300):
        return ActivityLogged(key=key, activity_id=row_id)
    error = answer.error or DataverseRejected(f"Dataverse answered {status} to the activity", status=status)
    translated_error = translate(error)
    if isinstance(translated_error, CrmRejected):
        return ActivityLogged(key=key, error=translated_error)
    raise translated_error


# The provider's method name (crm/provider.py), and its batch size.
def log_activities(provider: Any, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
    return activities_log(provider, activities)


def max_activities_per_call() -> int:
    """Operations per $batch: the ACTIVITY_BATCH_SIZE setting, within Dataverse's 1,000."""
    from crm.providers.dynamics.conf import dynamics_settings

    return max(1, min(int(dynamics_settings.ACTIVITY_BATCH_SIZE or 1), BATCH_LIMIT))


__all__ = ["activities_log", "activity_id", "log_activities", "max_activities_per_call", "timeline_table"]
