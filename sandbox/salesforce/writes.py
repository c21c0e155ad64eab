"""Record writes shared by the sObject API, sObject Collections and the control API: create, update, soft delete
and upsert by external id, each validated (validation.py), derived fields set, `Sforce-Call-Options` client kept
on the row (`_last_client`), under the sandbox lock (unique values checked and written atomically).

    create(org, sobject, body, *, user_id, client=None, trusted=False, at=None) -> record        # ApiError
    update(org, sobject, record_id, body, *, user_id, client=None, trusted=False, at=None, bump=True) -> record
    delete(org, sobject, record_id, *, client=None, at=None) -> record
    upsert(org, sobject, field, value, body, *, user_id, client=None, update_only=False) -> UpsertResult
    live_record(org, sobject, record_id) -> record                                     # ApiError NOT_FOUND / deleted
    Transaction(org): writes with `notify=False` remembered, then `commit()` (listeners hear of them: the Flow
    callout) or `rollback()` (created rows removed, updated rows restored): allOrNone collections.

Upsert by external id (REST API guide, Upsert a Record Using an External ID): no live match creates (the field
set to the URL's value), one match updates, several answer 300 with their URLs (`UpsertResult.matches`). The
`Id` field works as an external id (v37+): it only updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.state import SfOrg
from sandbox.salesforce.validation import ApiError, check_values, derive

NOT_FOUND = "The requested resource does not exist"


def not_found() -> ApiError:
    return ApiError("NOT_FOUND", NOT_FOUND)


def live_record(org: SfOrg, sobject: str, record_id: str, *, include_deleted: bool = False) -> dict[str, Any]:
    normalized = ids.normalize(record_id)
    if normalized is None or ids.sobject_of(normalized) != sobject:
        raise ApiError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {record_id}")
    record = org.stores[sobject].get(normalized)
    if record is None:
        raise not_found()
    if record.get("IsDeleted") and not include_deleted:
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted")
    return record


def create(
    org: SfOrg,
    sobject: str,
    body: Any,
    *,
    user_id: str,
    client: str | None = None,
    trusted: bool = False,
    at: datetime | None = None,
    notify: bool = True,
) -> dict[str, Any]:
    if isinstance(body, dict) and body.get("Id") not in (None, "") and not trusted:
        raise ApiError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
    with org.sandbox.lock:
        checked = check_values(org, sobject, body, creating=True, trusted=trusted)
        values = checked.values
        values.pop("Id", None)
        derive(org, sobject, {}, values, creating=True)
        store = org.stores[sobject]
        return store.insert(values, by_user=user_id, at=at, client=client, by_api=not trusted, notify=notify)


def update(
    org: SfOrg,
    sobject: str,
    record_id: str,
    body: Any,
    *,
    user_id: str,
    client: str | None = None,
    trusted: bool = False,
    at: datetime | None = None,
    bump: bool = True,
    notify: bool = True,
) -> dict[str, Any]:
    with org.sandbox.lock:
        record = live_record(org, sobject, record_id)
        checked = check_values(org, sobject, body, creating=False, record=record, trusted=trusted)
        values = checked.values
        derive(org, sobject, record, values, creating=False)
        return org.stores[sobject].update(
            record["Id"],
            values,
            by_user=user_id,
            at=at,
            client=client,
            bump_modified=bump,
            by_api=not trusted,
            notify=notify,
        )


def delete(
    org: SfOrg, sobject: str, record_id: str, *, client: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    with org.sandbox.lock:
        record = live_record(org, sobject, record_id)
        return org.delete_record(sobject, record["Id"], at=at, client=client)


@dataclass
class UpsertResult:
    record: dict[str, Any] | None = None
    created: bool = False
    matches: list[dict[str, Any]] = field(default_factory=list)


ODD_ENDINGS = (".inc",)  # values ending so are read as a format suffix: 404 (upsert docs; fact sheet §1.3)


def external_field(org: SfOrg, sobject: str, name: str) -> dict[str, Any]:
    meta = org.schema[sobject].field(name)
    if meta is None or not (meta["externalId"] or meta["name"] == "Id"):
        raise ApiError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
    return meta


def upsert(
    org: SfOrg,
    sobject: str,
    field_name: str,
    value: str,
    body: Any,
    *,
    user_id: str,
    client: str | None = None,
    update_only: bool = False,
    notify: bool = True,
) -> UpsertResult:
    meta = external_field(org, sobject, field_name)
    name = meta["name"]
    if any(value.lower().endswith(ending) for ending in ODD_ENDINGS):
        raise not_found()
    if not isinstance(body, dict):
        raise ApiError("JSON_PARSER_ERROR", "The request body must be a JSON object")
    if name == "Id":
        record = live_record(org, sobject, value)
        updated = update(org, sobject, record["Id"], body, user_id=user_id, client=client, notify=notify)
        return UpsertResult(updated, created=False)
    body = dict(body)
    if "Id" in body or "id" in body:
        raise ApiError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Id. Please check the "
            "security settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            ["Id"],
        )
    for key in list(body):
        if key.lower() == name.lower():
            if str(body[key]).lower() != value.lower():
                raise ApiError("INVALID_FIELD", f"The value of {name} in the body does not match the URL", [name])
            del body[key]
    with org.sandbox.lock:
        matches = org.stores[sobject].lookup(name, value)
        if len(matches) > 1:
            return UpsertResult(matches=matches)
        if matches:
            updated = update(org, sobject, matches[0]["Id"], body, user_id=user_id, client=client, notify=notify)
            return UpsertResult(updated, created=False)
        if update_only:
            raise not_found()
        created = create(org, sobject, {**body, name: value}, user_id=user_id, client=client, notify=notify)
        return UpsertResult(created, created=True)


class Transaction:
    """Writes that become visible together or not at all (sObject Collections with allOrNone)."""

    def __init__(self, org: SfOrg) -> None:
        self.org = org
        self.created: list[tuple[str, dict[str, Any], list[str]]] = []  # (sObject, record, fields given)
        self.updated: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = []  # (.., before, ..)

    def before_update(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        record = self.org.stores[sobject].get(ids.normalize(record_id) or "")
        return dict(record) if record is not None else None

    def note_created(self, sobject: str, record: dict[str, Any], body: Any) -> None:
        self.created.append((sobject, record, sorted(body) if isinstance(body, dict) else []))

    def note_updated(self, sobject: str, before: dict[str, Any], body: Any) -> None:
        self.updated.append((sobject, before, {}, sorted(body) if isinstance(body, dict) else []))

    def commit(self) -> None:
        from sandbox.kit.store import ChangeEvent

        for sobject, record, fields in self.created:
            self.org.stores[sobject]._emit(ChangeEvent(sobject, "insert", [record["Id"]], {record["Id"]: fields}, True))
        for sobject, before, _, fields in self.updated:
            self.org.stores[sobject]._emit(ChangeEvent(sobject, "update", [before["Id"]], {before["Id"]: fields}, True))
        self.created.clear()
        self.updated.clear()

    def rollback(self) -> None:
        with self.org.sandbox.lock:
            for sobject, before, _, _ in reversed(self.updated):
                self.org.stores[sobject].restore(before)
            for sobject, record, _ in reversed(self.created):
                store = self.org.stores[sobject]
                store.delete(record["Id"], notify=False)
                if store.deleted and store.deleted[-1].get("id") == record["Id"]:
                    store.deleted.pop()
        self.created.clear()
        self.updated.clear()
