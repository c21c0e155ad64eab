"""One HubSpot portal (account, "hub"): its records, property definitions, associations, owners and API limits.

Records are kept per object type in a kit `RecordStore` as HubSpot shows them, less the per-call choice of
properties: `{"id": "101", "createdAt": "...Z", "updatedAt": "...Z", "properties": {name: text}}`; `properties`
holds every value set (strings), including `hs_object_id`, the created-time property and the modified-time
property, which always equals `updatedAt` (`lastmodifieddate` for contacts, `hs_lastmodifieddate` otherwise). The
store indexes (updatedAt, id), so paging by modified time with an id tie-break is the kit's keyset walk.

Archiving (DELETE, batch/archive, a merge's secondary) moves a record out of its store into `archived[type]`
with `archived: true` and `archivedAt` (list with `archived=true` reads them); `restore` brings one back.

Every write goes through `create` / `update` / `archive` / `merge` / `stamp`, which stamp the modified time
(millisecond ISO text, the sandbox clock or `at`) and announce a `Change` (state.py) naming who made it:
`Source.integration(app_id)` for calls made with an app's token, `Source.ui(user_id)` for the control API's "a
person edited it in HubSpot". Seeding writes rows directly (`put_rows`) and announces nothing.

API writes are checked by `check_write` (the property checks, the portal's `validation_rules` a person switched on
through the control API, unique-value properties another live record holds) and tallied by `written` (the kit
counter `hubspot.records_written:<portal id>`); the control API's writes are people's: neither.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.catalog import OBJECT_TYPES, ObjectType
from sandbox.hubspot.schema import check_properties, iso_ms, parse_iso, property_error, standard_properties
from sandbox.hubspot.state_associations import AssociationStore
from sandbox.hubspot.state_changes import SYSTEM, Change, Source, with_history
from sandbox.hubspot.state_lookups import Lookups
from sandbox.kit.limits import RateWindows, RollingWindow
from sandbox.kit.store import IdSequence, RecordStore

if TYPE_CHECKING:
    from sandbox.state import SandboxState

Record = dict[str, Any]


class Archive(dict):
    """Archived records of one type by id, with the id order list paging needs (re-sorted only after a change)."""

    def __init__(self) -> None:
        super().__init__()
        self._order: list[int] | None = None

    def __setitem__(self, key: str, value: Record) -> None:
        super().__setitem__(key, value)
        self._order = None

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._order = None

    def pop(self, key: str, *default: Any) -> Any:
        self._order = None
        return super().pop(key, *default)

    def page(self, after: str | None, limit: int) -> list[Record]:
        """Up to `limit` records with ids above `after`, by id."""
        order = self._order
        if order is None:
            order = self._order = sorted(int(key) for key in list(self))
        start = bisect.bisect_right(order, int(after)) if after else 0
        found = (self.get(str(key)) for key in order[start : start + limit])
        return [record for record in found if record is not None]


class HsRecordStore(RecordStore):
    """A kit store whose modified time is `updatedAt` and whose ids are numbers."""

    def __init__(self, kind: ObjectType, ids: IdSequence, now: Callable[[], datetime]) -> None:
        super().__init__(
            kind.name,
            new_id=ids.next,
            now=now,
            stamp=iso_ms,
            parse=parse_iso,
            modified_field="updatedAt",
            created_field="createdAt",
            id_key=int,
        )
        self.object_type = kind


class Portal:
    def __init__(
        self,
        sandbox: SandboxState,
        *,
        portal_id: int,
        name: str,
        domain: str,
        time_zone: str = "US/Eastern",
        utc_offset_hours: float = -5.0,
        owners: Iterable[dict[str, Any]] = (),
        id_start: int = 1001,
    ) -> None:
        self.sandbox = sandbox
        self.portal_id = int(portal_id)
        self.name = name
        self.domain = domain
        self.time_zone = time_zone
        self.utc_offset_hours = utc_offset_hours
        self.owners: list[Record] = [dict(owner) for owner in owners]
        self.ids = IdSequence(id_start)
        self.stores: dict[str, HsRecordStore] = {
            name: HsRecordStore(kind, self.ids, sandbox.clock.now) for name, kind in OBJECT_TYPES.items()
        }
        self.archived: dict[str, Archive] = {name: Archive() for name in OBJECT_TYPES}
        self.properties: dict[str, dict[str, Record]] = {
            name: {meta["name"]: meta for meta in standard_properties(name)} for name in OBJECT_TYPES
        }
        self.associations = AssociationStore()
        self.lock = threading.RLock()
        now = sandbox.clock.timestamp
        # Per app: the rolling 10-second window; per portal: the day (portal's midnight) and search's second.
        self.ten_second = RateWindows(10.0, now=now)
        self.search_window = RollingWindow(1.0, now=now)
        self.daily_used: dict[str, int] = {}
        # Per-portal overrides of the sandbox config (None: the config's), e.g. a Professional portal's 190.
        self.requests_per_10s: int | None = None
        self.requests_per_day: int | None = None
        self.listeners: list[Callable[[Change], None]] = []  # besides HubSpotState.listeners (portal-wide ones)
        self.lookups = Lookups()  # idProperty lookups (state_lookups.py)
        # Property validation rules a person set in the portal's settings: object type -> {property: message}. An
        # API write setting the property (to anything) is refused with the message (the control API's rules).
        self.validation_rules: dict[str, dict[str, str]] = {}

    # --- limits --------------------------------------------------------------------------------------------
    def limit_per_10s(self) -> int:
        return self.requests_per_10s or self.sandbox.config.hs_requests_per_10s

    def limit_per_day(self) -> int:
        return self.requests_per_day or self.sandbox.config.hs_requests_per_day

    def day_key(self) -> str:
        """The portal's calendar day (its daily limit resets at its midnight)."""
        local = self.sandbox.clock.now() + timedelta(hours=self.utc_offset_hours)
        return local.date().isoformat()

    def daily_remaining(self) -> int:
        return max(0, self.limit_per_day() - self.daily_used.get(self.day_key(), 0))

    def spend_daily(self) -> bool:
        with self.lock:
            day = self.day_key()
            used = self.daily_used.get(day, 0)
            if used >= self.limit_per_day():
                return False
            self.daily_used = {day: used + 1}
            return True

    # --- metadata ------------------------------------------------------------------------------------------
    def owner_ids(self) -> set[str]:
        return {str(owner["id"]) for owner in self.owners if not owner.get("archived")}

    def owner(self, owner_id: str | int, *, by_user: bool = False) -> Record | None:
        key = "userId" if by_user else "id"
        return next((owner for owner in self.owners if str(owner.get(key)) == str(owner_id)), None)

    def definitions(self, object_type: str) -> dict[str, Record]:
        return self.properties[object_type]

    def check(self, object_type: str, values: dict[str, Any]) -> tuple[dict[str, str], list[Record]]:
        """(clean values, per-property errors) of values a client writes (state.py's Problem shapes them)."""
        return check_properties(self.properties[object_type], values, owner_ids=self.owner_ids())

    def check_write(
        self, object_type: str, values: dict[str, Any], *, record_id: str | None = None
    ) -> tuple[dict[str, str], list[Record]]:
        """`check` for an API write, with what the portal adds: its property validation rules and its unique-value
        properties (another live record holding the value; `record_id` is the record being written)."""
        clean, errors = self.check(object_type, values)
        rules = self.validation_rules.get(object_type) or {}
        for name in list(clean):
            if name in rules:
                errors.append(property_error(name, "INVALID_PROPERTY_VALUE", rules[name]))
                del clean[name]
        errors.extend(self.unique_errors(object_type, clean, record_id=record_id))
        return clean, errors

    def unique_errors(self, object_type: str, clean: dict[str, str], *, record_id: str | None = None) -> list[Record]:
        """A refusal per unique-value property (hasUniqueValue) whose value another live record holds."""
        definitions = self.properties[object_type]
        found = []
        for name, value in clean.items():
            if not value or not (definitions.get(name) or {}).get("hasUniqueValue"):
                continue
            other = self.find_by(object_type, name, value)
            if other is not None and other["id"] != str(record_id or ""):
                message = f"{value} already has that value on {object_type} {other['id']} ({name} must be unique)"
                found.append(property_error(name, "DUPLICATE_UNIQUE_VALUE", message))
        return found

    def written(self, count: int = 1) -> None:
        """Tally records written through the API (creates, updates, upserts, archives): the kit counter
        `hubspot.records_written:<portal id>`; the control API's writes are people's and are not counted."""
        if count:
            self.sandbox.counters[f"hubspot.records_written:{self.portal_id}"] += count

    # --- reading -------------------------------------------------------------------------------------------
    def store(self, object_type: str) -> HsRecordStore:
        return self.stores[object_type]

    def get(self, object_type: str, record_id: str, *, archived: bool = False) -> Record | None:
        if archived:
            return self.archived[object_type].get(str(record_id))
        return self.stores[object_type].get(str(record_id))

    def find_by(self, object_type: str, property_name: str, value: str) -> Record | None:
        """The live record whose property has this value (idProperty lookups; emails compare case-blind)."""
        if property_name == "hs_object_id":
            return self.get(object_type, value)
        return self.lookups.find(self.stores[object_type], object_type, property_name, value)

    def alive(self, object_type: str, record_id: str) -> bool:
        return str(record_id) in self.stores[object_type].records

    # --- writing -------------------------------------------------------------------------------------------
    def _stamp_text(self, at: datetime | None) -> str:
        return iso_ms(at or self.sandbox.clock.now())

    def new_record(
        self,
        object_type: str,
        values: dict[str, str],
        *,
        at: datetime | None = None,
        record_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Record:
        """A record dict (not stored): id, times and the system properties filled in."""
        kind = OBJECT_TYPES[object_type]
        record_id = str(record_id or self.ids.next())
        modified = self._stamp_text(at)
        created = iso_ms(created_at) if created_at else modified
        properties = {name: value for name, value in values.items() if value != ""}
        properties.update({"hs_object_id": record_id, kind.created_property: created, kind.modified_property: modified})
        if kind.created_property != "hs_createdate":
            properties["hs_createdate"] = created
        if object_type == "contacts" and properties.get("email") and "@" in properties["email"]:
            properties["hs_email_domain"] = properties["email"].rsplit("@", 1)[1].lower()
        return {"id": record_id, "createdAt": created, "updatedAt": modified, "properties": properties}

    def put_rows(self, object_type: str, records: Iterable[Record]) -> int:
        """Seed records made with `new_record` directly (no changes announced), then re-sort the indexes once."""
        store = self.stores[object_type]
        count = 0
        with store.lock:
            for record in records:
                store.records[record["id"]] = record
                count += 1
            store.rebuild_indexes()
        self.lookups.forget(object_type)
        return count

    def create(
        self,
        object_type: str,
        values: dict[str, str],
        *,
        source: Source = SYSTEM,
        at: datetime | None = None,
        notify: bool = True,
    ) -> Record:
        """Store a new record from clean values ("" values are left out) and announce its creation."""
        record = self.new_record(object_type, values, at=at)
        shown = {name: value for name, value in values.items() if value != ""}
        record["_history"] = with_history(None, shown, record["updatedAt"], source)
        store = self.stores[object_type]
        store.insert(record, notify=False)
        self.lookups.track(object_type, record["id"], None, record["properties"])
        if notify:
            self.emit(self.change(object_type, "creation", record["id"], shown, source))
        return record

    def update(
        self,
        object_type: str,
        record_id: str,
        values: dict[str, str],
        *,
        source: Source = SYSTEM,
        at: datetime | None = None,
        notify: bool = True,
    ) -> Record:
        """Set clean values ("" clears one) and move the modified time, even when nothing changed (as HubSpot
        does on a PATCH); propertyChange is announced for each value that did change."""
        kind = OBJECT_TYPES[object_type]
        store = self.stores[object_type]
        with store.lock:
            record = store.records[str(record_id)]
            properties = dict(record["properties"])
            changed: dict[str, str] = {}
            for name, value in values.items():
                if properties.get(name, "") != value:
                    changed[name] = value
                if value == "":
                    properties.pop(name, None)
                else:
                    properties[name] = value
            stamp = self._stamp_text(at)
            properties[kind.modified_property] = stamp
            if object_type == "contacts" and "email" in changed:
                email = properties.get("email", "")
                if "@" in email:
                    properties["hs_email_domain"] = email.rsplit("@", 1)[1].lower()
                else:
                    properties.pop("hs_email_domain", None)
            before = record["properties"]
            history = with_history(record.get("_history"), changed, stamp, source)
            store.update(
                record["id"], {"properties": properties, "_history": history}, at=parse_iso(stamp), notify=False
            )
            self.lookups.track(object_type, record["id"], before, properties)
        if notify:
            for name, value in changed.items():
                self.emit(self.change(object_type, "propertyChange", record["id"], {name: value}, source))
        return record

    def archive(
        self,
        object_type: str,
        record_id: str,
        *,
        source: Source = SYSTEM,
        at: datetime | None = None,
        notify: bool = True,
    ) -> Record | None:
        """Move a record to the archive (archived: true, archivedAt); None when it is not live."""
        store = self.stores[object_type]
        stamp = self._stamp_text(at)

        def tombstone(record: Record, _when: str) -> Record:
            return {**record, "archived": True, "archivedAt": stamp}

        record = store.delete(str(record_id), at=parse_iso(stamp), tombstone=tombstone, notify=False)
        if record is None:
            return None
        archived = store.deleted[-1]
        self.archived[object_type][archived["id"]] = archived
        self.lookups.track(object_type, archived["id"], archived["properties"], None)
        if len(store.deleted) > 10_000:
            del store.deleted[:-10_000]
        if notify:
            self.emit(self.change(object_type, "deletion", archived["id"], {}, source))
        return archived

    def restore(self, object_type: str, record_id: str, *, source: Source = SYSTEM) -> Record | None:
        archived = self.archived[object_type].pop(str(record_id), None)
        if archived is None:
            return None
        record = {key: value for key, value in archived.items() if key not in ("archived", "archivedAt")}
        self.stores[object_type].insert(record, notify=False)
        self.lookups.track(object_type, record["id"], None, record["properties"])
        self.update(object_type, record["id"], {}, source=source, notify=False)
        self.emit(self.change(object_type, "restore", record["id"], {}, source))
        return record

    def merge(self, object_type: str, primary_id: str, secondary_id: str, *, source: Source = SYSTEM) -> Record:
        """Merge the secondary into the primary: the primary keeps its values and fills its blanks from the
        secondary, gains its associations and lists it in hs_merged_object_ids; the secondary is archived."""
        primary = self.get(object_type, primary_id)
        secondary = self.get(object_type, secondary_id)
        if primary is None or secondary is None:
            raise KeyError("merge needs two live records")
        kind = OBJECT_TYPES[object_type]
        system = {
            "hs_object_id",
            kind.created_property,
            kind.modified_property,
            "hs_createdate",
            "hs_merged_object_ids",
        }
        fill = {
            name: value
            for name, value in secondary["properties"].items()
            if name not in system and not primary["properties"].get(name)
        }
        merged = [part for part in primary["properties"].get("hs_merged_object_ids", "").split(";") if part]
        merged.append(str(secondary_id))
        fill["hs_merged_object_ids"] = ";".join(merged)
        self.associations.move(object_type, str(secondary_id), str(primary_id))
        self.archive(object_type, secondary_id, source=source, notify=False)
        record = self.update(object_type, primary_id, fill, source=source, notify=False)
        change = self.change(object_type, "merge", str(primary_id), {}, source)
        change.merged_ids = [str(secondary_id)]
        self.emit(change)
        return record

    def stamp(
        self,
        object_type: str,
        record_ids: Iterable[str],
        at: datetime,
        *,
        source: Source = SYSTEM,
        notify: bool = False,
    ) -> int:
        """Give many records ONE modified time (HubSpot's own month-end batch updates), re-sorting once."""
        kind = OBJECT_TYPES[object_type]
        store = self.stores[object_type]
        text = iso_ms(at)
        touched = []
        with store.lock:
            for record_id in record_ids:
                record = store.records.get(str(record_id))
                if record is None:
                    continue
                record["updatedAt"] = text
                record["properties"] = {**record["properties"], kind.modified_property: text}
                touched.append(record["id"])
            store.rebuild_indexes()
        self.lookups.forget(object_type, kind.modified_property)
        if notify:
            for record_id in touched:
                self.emit(self.change(object_type, "propertyChange", record_id, {kind.modified_property: text}, source))
        return len(touched)

    def associate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        type_id: int | None = None,
        *,
        source: Source = SYSTEM,
        notify: bool = True,
    ) -> None:
        """Associate two records; a contact's new primary company replaces its previous one and is written to its
        `associatedcompanyid` (a property change: the contact's modified time moves)."""
        primary = self._primary_company(from_type, from_id, to_type, to_id, type_id)
        if primary is not None:
            self.associations.drop_type("contacts", primary[0], "companies", 1, 2)
        kind = self.associations.add(from_type, from_id, to_type, to_id, type_id)
        if primary is not None and self.alive("contacts", primary[0]):
            self.update("contacts", primary[0], {"associatedcompanyid": primary[1]}, source=source, notify=notify)
        if notify:
            change = self.change(from_type, "associationChange", str(from_id), {}, source)
            change.association = {
                "toObjectType": to_type,
                "toObjectId": str(to_id),
                "typeId": kind.type_id,
                "removed": False,
            }
            self.emit(change)

    @staticmethod
    def _primary_company(
        from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None
    ) -> tuple[str, str] | None:
        """(contact id, company id) when this association makes a contact's primary company."""
        if (from_type, to_type, type_id) == ("contacts", "companies", 1):
            return str(from_id), str(to_id)
        if (from_type, to_type, type_id) == ("companies", "contacts", 2):
            return str(to_id), str(from_id)
        return None

    def purge(self, object_type: str, record_id: str, *, source: Source = SYSTEM) -> bool:
        """A GDPR delete: the record (live or archived) and its associations are gone for good."""
        store = self.stores[object_type]
        record = store.delete(str(record_id), notify=False) or self.archived[object_type].pop(str(record_id), None)
        if record is None:
            return False
        self.archived[object_type].pop(str(record_id), None)
        self.lookups.track(object_type, str(record_id), record["properties"], None)
        self.associations.drop_record(object_type, str(record_id))
        self.emit(self.change(object_type, "privacyDeletion", str(record_id), {}, source))
        return True

    # --- changes -------------------------------------------------------------------------------------------
    def change(
        self, object_type: str, operation: str, record_id: str, properties: dict[str, str], source: Source
    ) -> Change:
        return Change(
            portal_id=self.portal_id,
            object_type=object_type,
            object_type_id=OBJECT_TYPES[object_type].type_id,
            operation=operation,
            object_id=str(record_id),
            properties=dict(properties),
            source=source,
            occurred_at=int(self.sandbox.clock.timestamp() * 1000),
        )

    def emit(self, change: Change) -> None:
        for listener in [*self.listeners, *self.sandbox.hubspot.listeners]:
            listener(change)

    # --- the control API's view ----------------------------------------------------------------------------
    def summary(self) -> Record:
        return {
            "portal_id": self.portal_id,
            "name": self.name,
            "domain": self.domain,
            "time_zone": self.time_zone,
            "owners": self.owners,
            "counts": {name: len(store) for name, store in self.stores.items()},
            "archived": {name: len(found) for name, found in self.archived.items()},
            "associations": self.associations.count(),
            "requests_per_10s": self.limit_per_10s(),
            "requests_per_day": self.limit_per_day(),
            "daily_remaining": self.daily_remaining(),
        }
