"""An org's records: one `SfRecordStore` per sObject (the kit's store with Salesforce's system fields, ids,
datetimes and lookup indexes), the API's datetime text (`format_sf_datetime` / `parse_sf_datetime`), `is_live`
(not in the Recycle Bin) and the User row shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.kit import store as kit
from sandbox.kit.store import ChangeEvent

if TYPE_CHECKING:
    from sandbox.salesforce.state_org import SfOrg

RECORD_SOBJECTS = ("Lead", "Contact", "Account", "Opportunity", "Task")  # writable through the sObject API


def format_sf_datetime(moment: datetime, *, milliseconds: bool = False) -> str:
    """The REST API's datetime text: UTC, milliseconds, '+0000' (2026-12-07T14:03:56.000+0000). The emulator
    stamps whole seconds, so records written in one second share a SystemModstamp, as bulk updates do; a datetime
    field's value keeps the milliseconds it was written with (`milliseconds`), as Salesforce stores them."""
    moment = moment.astimezone(UTC)
    fraction = moment.microsecond // 1000 if milliseconds else 0
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction:03d}+0000"


def parse_sf_datetime(text: str) -> datetime:
    """A datetime as the API writes it, or as clients send it (Z, +00:00, +0000, with or without milliseconds)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _fold(value: Any) -> str | None:
    return None if value is None or value == "" else str(value).lower()


def is_live(record: dict[str, Any]) -> bool:
    """Not in the Recycle Bin (query shows it; queryAll shows both)."""
    return not record.get("IsDeleted")


class SfRecordStore(kit.RecordStore):
    """One sObject's records (the kit's store with Salesforce's system fields, ids and datetimes)."""

    def __init__(self, sobject: str, *, org: SfOrg) -> None:
        super().__init__(
            sobject,
            new_id=lambda: org.ids.new(sobject),
            now=org.sandbox.clock.now,
            stamp=format_sf_datetime,
            parse=parse_sf_datetime,
            modified_field="SystemModstamp",
            created_field="CreatedDate",
            id_key=str,
        )
        self.org = org
        # Lookup indexes of fields by value, made on first use (external ids: upserts, unique checks):
        # field -> (folded value -> ids, id -> folded value).
        self._lookups: dict[str, tuple[dict[str, set[str]], dict[str, str]]] = {}

    @property
    def sobject(self) -> str:
        return self.kind

    # --- lookups by value ----------------------------------------------------------------------------------
    def lookup(self, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose `field_name` equals `value` (case-insensitively, as external ids compare), in id
        order."""
        with self.lock:
            by_value, _ = self._lookup_index(field_name)
            found = (self.records.get(record_id) for record_id in sorted(by_value.get(_fold(value), ())))
            return [record for record in found if record is not None and not record.get("IsDeleted")]

    def _lookup_index(self, field_name: str) -> tuple[dict[str, set[str]], dict[str, str]]:
        index = self._lookups.get(field_name)
        if index is None:
            by_value: dict[str, set[str]] = {}
            by_id: dict[str, str] = {}
            for record_id, record in self.records.items():
                folded = _fold(record.get(field_name))
                if folded is not None:
                    by_value.setdefault(folded, set()).add(record_id)
                    by_id[record_id] = folded
            index = self._lookups[field_name] = (by_value, by_id)
        return index

    def _track(self, record_id: str, record: dict[str, Any] | None) -> None:
        for field_name, (by_value, by_id) in self._lookups.items():
            old = by_id.pop(record_id, None)
            if old is not None:
                holders = by_value.get(old)
                if holders is not None:
                    holders.discard(record_id)
                    if not holders:
                        del by_value[old]
            new = _fold(record.get(field_name)) if record is not None else None
            if new is not None:
                by_value.setdefault(new, set()).add(record_id)
                by_id[record_id] = new

    def rebuild_indexes(self) -> None:
        with self.lock:
            super().rebuild_indexes()
            self._lookups.clear()

    def restore(self, before: dict[str, Any]) -> None:
        """Put a row back as it was (a rolled-back write): every field, its place in the indexes."""
        with self.lock:
            record = self.records[before["id"]]
            record.clear()
            record.update(before)
            self._index(record)
            self._track(record["Id"], record)

    def delete(self, record_id: str, **options: Any) -> dict[str, Any] | None:  # type: ignore[override]
        """Remove a row for good (a purge; `SfOrg.delete_record` is the API's soft delete)."""
        with self.lock:
            record = super().delete(record_id, **options)
            if record is not None:
                self._track(record["Id"], None)
            return record

    def insert(  # type: ignore[override]
        self,
        values: dict[str, Any],
        *,
        by_user: str | None = None,
        at: datetime | None = None,
        client: str | None = None,
        notify: bool = True,
        by_api: bool = False,
    ) -> dict[str, Any]:
        """Add a record: Id, CreatedDate = LastModifiedDate = SystemModstamp, CreatedById/LastModifiedById (and
        OwnerId unless given) = `by_user` (default: the org's admin), IsDeleted false."""
        record = dict(values)
        record_id = record.get("Id") or self.org.ids.new(self.sobject)
        stamp = self.now_text(at)
        user = by_user or self.org.admin_user_id
        record["Id"] = record["id"] = record_id
        record.setdefault("CreatedDate", stamp)
        record.setdefault("SystemModstamp", record["CreatedDate"])
        record.setdefault("LastModifiedDate", record["SystemModstamp"])
        record.setdefault("CreatedById", user)
        record.setdefault("LastModifiedById", user)
        record.setdefault("IsDeleted", False)
        if self.org.schema[self.sobject].field("OwnerId") is not None:
            record.setdefault("OwnerId", user)
        record["_last_client"] = client
        with self.lock:
            inserted = super().insert(record, at=at, notify=False)
            self._track(inserted["Id"], inserted)
        if notify:
            self._emit(ChangeEvent(self.kind, "insert", [inserted["Id"]], {inserted["Id"]: sorted(values)}, by_api))
        return inserted

    def update(  # type: ignore[override]
        self,
        record_id: str,
        changes: dict[str, Any],
        *,
        by_user: str | None = None,
        bump_modified: bool = True,
        at: datetime | None = None,
        client: str | None = None,
        notify: bool = True,
        by_api: bool = False,
    ) -> dict[str, Any]:
        """Change fields; with `bump_modified` SystemModstamp and LastModifiedDate move to `at` (default now) and
        LastModifiedById is `by_user`; without, the change is silent (a formula or rollup recalculated)."""
        changes = dict(changes)
        if client or bump_modified:
            changes["_last_client"] = client  # the last change's client: a person's edit has none
        stamped = None
        if bump_modified:
            at = at or self._now()
            stamped = {
                "LastModifiedDate": self.now_text(at),
                "LastModifiedById": by_user or self.org.admin_user_id,
            }
        with self.lock:
            updated = super().update(
                record_id, changes, bump_modified=bump_modified, at=at, stamped=stamped, notify=False
            )
            self._track(updated["Id"], updated)
        if notify:
            self._emit(ChangeEvent(self.kind, "update", [updated["Id"]], {updated["Id"]: sorted(changes)}, by_api))
        return updated


def user_summary(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["Id"], "name": user["Name"], "email": user["Email"], "username": user["Username"]}


def make_user_record(spec: dict[str, Any], *, stamp: str, creator: str | None) -> dict[str, Any]:
    """A User row from {id, first_name, last_name, email, title?, username?, time_zone?}."""
    first, last = spec.get("first_name", ""), spec.get("last_name") or "User"
    name = f"{first} {last}".strip()
    email = spec["email"]
    return {
        "Id": spec["id"],
        "id": spec["id"],
        "Username": spec.get("username") or email,
        "FirstName": first or None,
        "LastName": last,
        "Name": name,
        "Email": email,
        "IsActive": spec.get("active", True),
        "Alias": (first[:1] + last[:4]).lower() or "user",
        "Title": spec.get("title"),
        "Phone": spec.get("phone"),
        "MobilePhone": None,
        "TimeZoneSidKey": spec.get("time_zone", "America/Los_Angeles"),
        "LocaleSidKey": "en_US",
        "LanguageLocaleKey": "en_US",
        "UserType": "Standard",
        "ProfileId": None,
        "UserRoleId": None,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "CreatedById": creator or spec["id"],
        "LastModifiedDate": stamp,
        "LastModifiedById": creator or spec["id"],
        "SystemModstamp": stamp,
    }
