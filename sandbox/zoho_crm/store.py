"""Records of one Zoho CRM module, in Zoho's own JSON shape: the kit's record store (sandbox/kit/store.py) with
Zoho's field names, ids, datetimes, system fields and recycle bin.

Records are dicts exactly as the API returns them (19-digit string ids, `Owner: {name, id, email}`, datetimes
as 'YYYY-MM-DDTHH:MM:SS±HH:MM' in the org's time zone). The kit keeps them sorted by id and by
(Modified_Time, id), so paging stays cheap at 200,000 records; every change reaches listeners (notifications,
workflow rules, bulk jobs) as a `ChangeEvent` whose `kind` is the module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.kit import store as kit
from sandbox.kit.store import ChangeEvent, Listener

__all__ = [
    "ORG_ID_PREFIX",
    "ChangeEvent",
    "IdSequence",
    "Listener",
    "RecordStore",
    "display_name",
    "fixed_offset",
    "format_zoho_datetime",
    "parse_zoho_datetime",
    "user_lookup",
]

ORG_ID_PREFIX = "4150868"  # ids look like 4150868000000225013: a fixed prefix and a counter


def format_zoho_datetime(moment: datetime, tz: timezone) -> str:
    """Zoho's datetime format: second precision, the org's offset (e.g. 2026-11-22T09:15:02-05:00)."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def parse_zoho_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class IdSequence(kit.IdSequence):
    """Zoho's ids: increasing, 19 digits, a 7-digit prefix and a 12-digit counter (an org shares one sequence
    across its modules, as Zoho does; another org has another prefix, so ids of two orgs never coincide)."""

    def __init__(self, start: int = 225_000, *, prefix: str = ORG_ID_PREFIX) -> None:
        super().__init__(start, text=lambda value: f"{prefix}{value:012d}")
        self.prefix = prefix


class RecordStore(kit.RecordStore):
    def __init__(self, module: str, *, ids: IdSequence, tz: timezone, now: Callable[[], datetime]) -> None:
        super().__init__(
            module,
            new_id=ids.next,
            now=now,
            stamp=lambda moment: format_zoho_datetime(moment, tz),
            parse=parse_zoho_datetime,
            modified_field="Modified_Time",
            created_field="Created_Time",
        )
        self.tz = tz
        # Fields with "Do not allow duplicate values" (API name -> case sensitive), and per field each value's ids
        # (kept as records change, so a duplicate check or an upsert never scans the module).
        self.unique_fields: dict[str, bool] = {}
        self._unique: dict[str, dict[str, set[str]]] = {}

    @property
    def module(self) -> str:
        return self.kind

    # --- unique fields ----------------------------------------------------------------------------------------
    def unique_fields_set(self, fields: dict[str, bool]) -> None:
        with self.lock:
            self.unique_fields = dict(fields)
            self._unique_rebuild()

    def unique_key(self, field: str, value: Any) -> str | None:
        """How a value of an indexed field is compared (case-insensitively unless the field says otherwise)."""
        if value is None or value == "" or isinstance(value, dict | list):
            return None
        text = str(value)
        return text if self.unique_fields.get(field, False) else text.lower()

    def ids_with(self, field: str, value: Any) -> list[str]:
        """The ids of live records whose `field` holds `value` (as the field compares), ascending."""
        key = self.unique_key(field, value)
        if key is None:
            return []
        with self.lock:
            if field not in self.unique_fields:
                return sorted(
                    (rid for rid, record in self.records.items() if self.unique_key(field, record.get(field)) == key),
                    key=self.id_key,
                )
            ids = self._unique.get(field, {}).get(key, set())
            return sorted((rid for rid in ids if rid in self.records), key=self.id_key)

    def _unique_add(self, record: dict[str, Any]) -> None:
        for field in self.unique_fields:
            key = self.unique_key(field, record.get(field))
            if key is not None:
                self._unique.setdefault(field, {}).setdefault(key, set()).add(record["id"])

    def _unique_remove(self, record: dict[str, Any]) -> None:
        for field in self.unique_fields:
            key = self.unique_key(field, record.get(field))
            ids = self._unique.get(field, {}).get(key) if key is not None else None
            if ids is not None:
                ids.discard(record["id"])

    def _unique_rebuild(self) -> None:
        self._unique = {}
        for record in self.records.values():
            self._unique_add(record)

    def rebuild_indexes(self) -> None:
        with self.lock:
            super().rebuild_indexes()
            self._unique_rebuild()

    def insert(
        self,
        values: dict[str, Any],
        *,
        by_user: dict[str, Any] | None = None,
        at: datetime | None = None,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
        notify: bool = True,
    ) -> dict[str, Any]:
        """Add a record; id, Created_Time/Modified_Time and (given `by_user`) Created_By/Modified_By/Owner are
        set here unless `values` has them."""
        who = user_lookup(by_user) if by_user is not None else None
        defaults = {"Created_By": who, "Modified_By": who, "Owner": who} if who else None
        with self.lock:
            record = super().insert(values, at=at, defaults=defaults, notify=False)
            self._unique_add(record)
        if notify:
            self._emit(
                ChangeEvent(self.kind, "insert", [record["id"]], {record["id"]: sorted(values)}, by_api, triggers)
            )
        return record

    def update(
        self,
        record_id: str,
        changes: dict[str, Any],
        *,
        by_user: dict[str, Any] | None = None,
        bump_modified: bool = True,
        at: datetime | None = None,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
        notify: bool = True,
    ) -> dict[str, Any]:
        """Change fields. Formula fields change with bump_modified=False: Zoho does not touch Modified_Time."""
        stamped = {"Modified_By": user_lookup(by_user)} if by_user is not None else None
        with self.lock:
            current = self.records.get(str(record_id))
            if current is not None:
                self._unique_remove(current)
            try:
                record = super().update(
                    record_id, changes, bump_modified=bump_modified, at=at, stamped=stamped, notify=False
                )
            finally:
                if current is not None:
                    self._unique_add(current)
        if notify and bump_modified:  # outside the lock, as the kit's store announces changes
            event = ChangeEvent(self.kind, "update", [record["id"]], {record["id"]: sorted(changes)}, by_api, triggers)
            self._emit(event)
        return record

    def delete(  # type: ignore[override]
        self,
        record_id: str,
        *,
        by_user: dict[str, Any] | None = None,
        permanent: bool = False,
        at: datetime | None = None,
        notify: bool = True,
    ) -> dict[str, Any] | None:
        """Remove a record into the recycle bin (or permanently, which keeps no names): the entry is what
        `GET /crm/v8/{module}/deleted` lists."""
        who = {"name": by_user["full_name"], "id": by_user["id"]} if by_user else None

        def entry(record: dict[str, Any], deleted_time: str) -> dict[str, Any]:
            return {
                "deleted_by": None if permanent else who,
                "id": record["id"],
                "display_name": None if permanent else display_name(record),
                "type": "permanent" if permanent else "recycle",
                "created_by": None if permanent else _name_id(record.get("Created_By")),
                "deleted_time": deleted_time,
            }

        record = super().delete(record_id, at=at, tombstone=entry, notify=notify)
        if record is not None:
            with self.lock:
                self._unique_remove(record)
        return record


def user_lookup(user: dict[str, Any]) -> dict[str, Any]:
    """A CRM user as a lookup value (Owner, Created_By, Modified_By): {name, id, email}."""
    return {"name": user["full_name"], "id": user["id"], "email": user["email"]}


def _name_id(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return {"name": value.get("name"), "id": value.get("id")}
    return None


def display_name(record: dict[str, Any]) -> str | None:
    for key in ("Full_Name", "Deal_Name", "Account_Name", "Subject", "Last_Name"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def fixed_offset(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))
