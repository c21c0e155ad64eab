"""A CRM made up for the change-tracking tests: leads in memory, versioned as a CRM's change tracking versions rows.

Every write bumps a version counter; a row keeps the version of its last change, a delete leaves a tombstone. A
token is `delta:<version>` (the changes after that version), a paging link `page:<kind>:<since>:<snapshot>:<read>:
<last id>` (a new `read` number per read; keyset on the id, so a row created or deleted mid-read shifts nothing;
the last page's token is the version the read began at, so a change during the read comes again in the next one).
`floor` expires every delta token below it, `dead_links` the paging links in it (True: every one); `crash_after`
raises `Killed` (not an Exception: a killed worker's run never reaches its except) on the call after that many
pages, `quota_after` CrmQuotaExhausted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.errors import CrmHistoryExpired, CrmNotFound, CrmQuotaExhausted
from crm.provider import CrmProvider
from crm.records import (
    CanonicalRecord,
    Capability,
    Cursor,
    DeletedRecord,
    Identity,
    ObjectSpec,
    Page,
    TrackedPage,
)

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Killed(BaseException):
    """The worker died mid-run (no except Exception sees it)."""


class TrackingCrm(CrmProvider):
    """One CRM org's leads with change tracking; `tracking` False makes it a CRM that does not track the object."""

    label = "Tracking CRM"
    capabilities = frozenset({Capability.CHANGE_TRACKING})

    def __init__(self, connection: Any, **options: Any) -> None:
        super().__init__(connection)
        self.lock = threading.Lock()
        self.version = 0
        self.clock = START
        self.rows: dict[str, tuple[int, CanonicalRecord]] = {}
        self.tombstones: dict[str, int] = {}
        self.tracking = True
        self.floor = 0
        self.dead_links: bool | set[str] = False
        self.crash_after: int | None = None
        self.quota_after: int | None = None
        self.pages_served = 0
        self.reads = 0
        self.asked: list[str] = []
        self.ids_listed = 0

    # --- the CRM's side: writes by people ----------------------------------------------------------------------
    def create(self, count: int, *, prefix: str = "L") -> list[str]:
        ids = []
        for _ in range(count):
            with self.lock:
                number = len(self.rows) + len(self.tombstones) + 1
            record_id = f"{prefix}{number:06d}"
            self.write(record_id, name=f"Lead {number}")
            ids.append(record_id)
        return ids

    def write(self, record_id: str, *, name: str, modified: datetime | None = None) -> None:
        with self.lock:
            self.version += 1
            self.clock += timedelta(seconds=1)
            created = self.rows[record_id][1].created_time if record_id in self.rows else self.clock
            record = CanonicalRecord(
                object="lead",
                id=record_id,
                modified_time=modified or self.clock,
                created_time=created,
                name=name,
                email=f"{record_id.lower()}@example.com",
                phones={"mobile": f"+1415555{int(record_id[-4:]):04d}"},
                fields={"last_name": name},
            )
            self.rows[record_id] = (self.version, record)
            self.tombstones.pop(record_id, None)

    def delete(self, record_id: str) -> None:
        with self.lock:
            self.version += 1
            del self.rows[record_id]
            self.tombstones[record_id] = self.version

    def live(self) -> dict[str, CanonicalRecord]:
        return {record_id: record for record_id, (_, record) in self.rows.items()}

    # --- change tracking -----------------------------------------------------------------------------------------
    def change_tracked(self, *, object: str) -> bool:
        return self.tracking

    def tracked_changes(self, *, object: str, token: str, page_size: int = 5000) -> TrackedPage:
        with self.lock:
            self.asked.append(token)
            if self.crash_after is not None and self.pages_served >= self.crash_after:
                self.crash_after = None
                raise Killed("worker killed")
            if self.quota_after is not None and self.pages_served >= self.quota_after:
                self.quota_after = None
                raise CrmQuotaExhausted("daily allocation used up", retry_after=600)
            if token == "":
                kind, since, snapshot, after = "full", 0, self.version, ""
                self.reads += 1
                read = self.reads
            elif token.startswith("delta:"):
                kind, since, snapshot, after = "delta", int(token.split(":")[1]), self.version, ""
                self.reads += 1
                read = self.reads
                if since < self.floor:
                    raise CrmHistoryExpired("Version stamp associated with the client has expired.")
            else:
                _, kind, since_text, snapshot_text, read_text, after = token.split(":", 5)
                since, snapshot, read = int(since_text), int(snapshot_text), int(read_text)
                if self.dead_links is True or (self.dead_links and token in self.dead_links):
                    raise CrmHistoryExpired("The paging link has expired.")
            if kind == "full":
                changed = sorted(record_id for record_id in self.rows if record_id > after)
                gone: list[str] = []
            else:
                changed = sorted(rid for rid, (version, _) in self.rows.items() if version > since and rid > after)
                gone = sorted(rid for rid, version in self.tombstones.items() if version > since and rid > after)
            ids = sorted([*changed, *gone])
            chosen = ids[:page_size]
            self.pages_served += 1
            has_more = len(ids) > page_size
            records = tuple(self.rows[rid][1] for rid in chosen if rid in self.rows)
            deleted = tuple(DeletedRecord(rid) for rid in chosen if rid not in self.rows)
            next_token = f"page:{kind}:{since}:{snapshot}:{read}:{chosen[-1]}" if has_more else f"delta:{snapshot}"
            return TrackedPage(
                records=records, deleted=deleted, token=next_token, has_more=has_more, full=kind == "full"
            )

    # --- what the rest of the engine asks ------------------------------------------------------------------------
    def object_spec(self, *, object: str) -> ObjectSpec:
        return ObjectSpec(name="lead", vendor_name="lead")

    def objects(self) -> list[ObjectSpec]:
        return [self.object_spec(object="lead")]

    def all_ids(self, *, object: str) -> Iterator[str]:
        with self.lock:
            self.ids_listed += 1
            ids = sorted(self.rows)
        yield from ids

    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        with self.lock:
            ordered = sorted(self.live().values(), key=lambda record: (record.modified_time, record.id))
        if cursor.modified_time is not None:
            ordered = [
                record
                for record in ordered
                if (record.modified_time, record.id) > (cursor.modified_time, cursor.record_id)
                or (not cursor.record_id and record.modified_time >= cursor.modified_time)
            ]
        page = tuple(ordered[:page_size])
        has_more = len(ordered) > page_size
        return Page(records=page, cursor=Cursor.after(page[-1]) if page else cursor, has_more=has_more)

    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        return iter(())

    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        try:
            return self.rows[record_id][1]
        except KeyError:
            raise CrmNotFound(f"no lead {record_id}") from None

    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        return [record for record in self.live().values() if phone in record.phones.values()]

    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        raise NotImplementedError

    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        return "https://crm.example/consent"

    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        raise NotImplementedError

    def disconnect(self) -> None:
        return None

    def identity(self) -> Identity:
        return Identity(org_id="org-1", org_name="Tracking CRM org", user_id="user-1")

    def create_task(self, *, object: str, record_id: str, owner_id: str, subject: str, **_: Any) -> str:
        raise NotImplementedError

    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        return [self.rows[rid][1] for rid in record_ids if rid in self.rows]
