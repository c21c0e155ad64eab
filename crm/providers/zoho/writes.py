"""The provider's writes: a Task on a record, completed Tasks logged 100 to a call (Zoho's per-record results say
which landed), field updates and new records. provider.py resolves the module names, then calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date
from typing import Any

from crm.errors import CrmRejected
from crm.providers.zoho.client import WRITE_BATCH, ZohoClient
from crm.providers.zoho.errors import ZohoRecordError
from crm.providers.zoho.reads import checked_id
from crm.providers.zoho.translation import PROVIDER, crm_error_of
from crm.records import Activity, ActivityLogged

# Zoho links a task to a lead, account or deal through What_Id + $se_module, to a contact through Who_Id.
TASK_WHO_OBJECTS = frozenset({"Contacts"})


def task_create(
    client: ZohoClient,
    *,
    module: str,
    record_id: str,
    owner_id: str,
    subject: str,
    due_date: date | None,
    description: str,
) -> str:
    link: dict[str, Any] = {}  # no record_id: a task on no record
    if record_id:
        link = (
            {"who_id": checked_id(record_id)}
            if module in TASK_WHO_OBJECTS
            else {"what_id": checked_id(record_id), "what_module": module}
        )
    return str(
        client.task_create(
            subject=subject,
            owner_id=owner_id or None,
            due_date=due_date.isoformat() if due_date else None,
            description=description,
            **link,
        )
    )


def activities_log(
    client: ZohoClient, *, activities: Sequence[Activity], module_of: Callable[[str], str]
) -> list[ActivityLogged]:
    """Completed Tasks on the records (Zoho has no activity type: `activity_type` is not written), inserted 100
    to a call with workflows off. Zoho's per-record results say which landed. No upsert (provider.py says why):
    a batch retried after an answer was lost logs those texts twice."""
    outcome: dict[int, ActivityLogged] = {}
    tasks: list[tuple[int, dict[str, Any]]] = []
    for index, activity in enumerate(activities):
        try:
            tasks.append((index, activity_task(activity, module=module_of(activity.object))))
        except (CrmRejected, ValueError) as exc:  # a record id or object Zoho cannot have: this one only
            error = exc if isinstance(exc, CrmRejected) else CrmRejected(str(exc), provider=PROVIDER)
            outcome[index] = ActivityLogged(key=activity.key, error=error)
    for start in range(0, len(tasks), WRITE_BATCH):
        batch = tasks[start : start + WRITE_BATCH]
        try:
            results = client.records_insert(module="Tasks", records=[task for _, task in batch])
        except ZohoRecordError as exc:  # some (or all) refused: each entry says which
            results = exc.results
        for (index, _), entry in zip(batch, results, strict=False):
            key = activities[index].key
            if entry.get("status") == "success":
                outcome[index] = ActivityLogged(key=key, activity_id=str((entry.get("details") or {}).get("id")))
            else:
                refused = ZohoRecordError("Zoho refused the task", results=[entry], status=400)
                outcome[index] = ActivityLogged(key=key, error=crm_error_of(refused))
    missing = CrmRejected("Zoho gave no result for this task", provider=PROVIDER)
    return [outcome.get(index) or ActivityLogged(key=a.key, error=missing) for index, a in enumerate(activities)]


def activity_task(activity: Activity, *, module: str) -> dict[str, Any]:
    """The completed Task one activity becomes, linked to its record in `module`."""
    record_id = checked_id(activity.record_id)
    task: dict[str, Any] = {"Subject": activity.subject or "SMS", "Status": "Completed", "Priority": "Normal"}
    if module in TASK_WHO_OBJECTS:
        task["Who_Id"] = {"id": record_id}
    else:
        task.update({"What_Id": {"id": record_id}, "$se_module": module})
    if activity.occurred_at is not None:
        task["Due_Date"] = activity.occurred_at.astimezone(UTC).date().isoformat()
    if activity.owner_id:
        task["Owner"] = {"id": activity.owner_id}
    if activity.description:
        task["Description"] = activity.description
    return task


def fields_update(client: ZohoClient, *, module: str, record_id: str, values: Mapping[str, Any]) -> None:
    """Updates with `trigger` empty: Zoho's workflow rules do not fire on Leadline's own writes."""
    client.records_update(module=module, records=[{**values, "id": checked_id(record_id)}])


def record_create(client: ZohoClient, *, module: str, values: Mapping[str, Any]) -> str:
    results = client.records_insert(module=module, records=[dict(values)])
    return str(results[0]["details"]["id"])
