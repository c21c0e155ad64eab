"""One Dataverse environment (an organization) in memory: its tables and rows, the version counter change
tracking reads, deleted rows' tombstones, and the writes that announce a `Change` to listeners (state.py
documents the contract)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.seed_tables import DEFAULT_STATUS
from sandbox.dynamics.state_tables import Change, Row, Table, Tombstone

if TYPE_CHECKING:
    from sandbox.dynamics.state import DynamicsState

# Columns the platform sets; a write's values never change them directly (records.py refuses or ignores them).
SYSTEM_COLUMNS = ("createdon", "modifiedon", "createdby", "modifiedby", "versionnumber", "overriddencreatedon")


class RowNotFound(KeyError):
    def __init__(self, table: str, row_id: str) -> None:
        super().__init__(f"{table} With Id = {row_id} Does Not Exist")
        self.table = table
        self.row_id = row_id

    def __str__(self) -> str:
        return self.args[0]


class DuplicateRow(ValueError):
    """A create with a primary id already in use."""


def norm_id(value: Any) -> str:
    """A GUID in Dataverse's form (lower case, dashes); ValueError when it is not one."""
    return str(uuid.UUID(str(value).strip("{}")))


class Environment:
    def __init__(
        self,
        dynamics: DynamicsState,
        *,
        name: str,
        tenant_id: str,
        organization_name: str,
        organization_id: str | None = None,
        tables: dict[str, Table] | None = None,
    ) -> None:
        self.dynamics = dynamics
        self.name = name
        self.tenant_id = tenant_id
        self.organization_name = organization_name
        self.organization_id = organization_id or str(uuid.uuid4())
        self.business_unit_id = str(uuid.uuid5(uuid.UUID(self.organization_id), "root business unit"))
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = tables or {}
        self.version = 1000  # row versions start above 0, as in real orgs
        self.tombstones: list[Tombstone] = []
        self.token_floor_version = 0  # delta tokens below this are expired (control: expire change tokens)
        self.created_at: datetime = dynamics.sandbox.clock.now()
        self.extra: dict[str, Any] = {}  # room for other modules' per-environment state (limits, cursors...)
        self._undo: list[tuple[Any, ...]] | None = None  # a transaction's undo log ($batch change sets)
        self._held: list[Change] | None = None  # Changes held until the transaction commits

    # --- where it lives ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The environment URL (what a token's audience names): `{sandbox}/dynamics/<name>`."""
        return f"{self.dynamics.base_url}/dynamics/{self.name}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/data/v9.2/"

    # --- tables and rows -----------------------------------------------------------------------------------
    def table(self, logical_name: str) -> Table | None:
        return self.tables.get(logical_name)

    def table_of_set(self, entity_set_name: str) -> Table | None:
        for table in self.tables.values():
            if table.entity_set_name == entity_set_name:
                return table
        return None

    def _table(self, logical_name: str) -> Table:
        table = self.tables.get(logical_name)
        if table is None:
            raise KeyError(f"no table {logical_name}")
        return table

    def rows(self, table: str) -> list[Row]:
        with self.lock:
            return list(self._table(table).rows.values())

    def row(self, table: str, row_id: str) -> Row | None:
        try:
            key = norm_id(row_id)
        except ValueError:
            return None
        return self._table(table).rows.get(key)

    def next_version(self) -> int:
        with self.lock:
            self.version += 1
            return self.version

    def user(self, systemuserid: str | None) -> Row | None:
        return self.row("systemuser", systemuserid) if systemuserid else None

    def application_user(self, client_id: str) -> Row | None:
        for row in self._table("systemuser").rows.values():
            if (row.get("applicationid") or "").lower() == (client_id or "").lower():
                return row
        return None

    def user_by_object_id(self, object_id: str) -> Row | None:
        for row in self._table("systemuser").rows.values():
            if (row.get("azureactivedirectoryobjectid") or "").lower() == (object_id or "").lower():
                return row
        return None

    # --- writes --------------------------------------------------------------------------------------------
    def create(
        self,
        table: str,
        values: dict[str, Any],
        *,
        by: str,
        at: datetime | None = None,
        row_id: str | None = None,
        notify: bool = True,
    ) -> Row:
        """A new row: the platform's columns set (id, created/modified on and by, owner = `by` unless given,
        statecode 0 and its default status reason unless given, fullname, versionnumber). Raises DuplicateRow
        when the id exists."""
        spec = self._table(table)
        moment = _seconds(at or self.dynamics.sandbox.clock.now())
        with self.lock:
            new_id = norm_id(row_id or values.get(spec.primary_id) or uuid.uuid4())
            if new_id in spec.rows:
                raise DuplicateRow(new_id)
            row: Row = dict.fromkeys(spec.attributes)
            row.update({key: value for key, value in values.items() if key not in SYSTEM_COLUMNS})
            row[spec.primary_id] = new_id
            if "ownerid" in spec.attributes and not row.get("ownerid") and by:
                row["ownerid"], row["ownerid@table"] = by, "systemuser"
            if "statecode" in spec.attributes and row.get("statecode") is None:
                row["statecode"] = 0
            if "statuscode" in spec.attributes and row.get("statuscode") is None:
                row["statuscode"] = DEFAULT_STATUS.get(table, {}).get(row["statecode"], 1)
            row["createdon"] = values.get("overriddencreatedon") or moment
            row["modifiedon"] = moment
            row["createdby"], row["createdby@table"] = by, "systemuser"
            row["modifiedby"], row["modifiedby@table"] = by, "systemuser"
            _derive(spec, row)
            row["versionnumber"] = self.next_version()
            spec.rows[new_id] = row
            spec.index_row(row)
            snapshot = dict(row)
            if self._undo is not None:
                self._undo.append(("create", table, new_id))
        if notify:
            self._announce(Change(self, table, "Create", new_id, snapshot, by, moment, tuple(values)))
        return snapshot

    def update(self, table: str, row_id: str, values: dict[str, Any], *, by: str, at: datetime | None = None) -> Row:
        """Set columns of a row (RowNotFound when missing); modifiedon/by and a new versionnumber."""
        spec = self._table(table)
        moment = _seconds(at or self.dynamics.sandbox.clock.now())
        with self.lock:
            key = norm_id(row_id)
            row = spec.rows.get(key)
            if row is None:
                raise RowNotFound(table, key)
            if self._undo is not None:
                self._undo.append(("update", table, key, dict(row)))
            spec.unindex_row(row)
            row.update({name: value for name, value in values.items() if name not in SYSTEM_COLUMNS})
            row["modifiedon"] = moment
            row["modifiedby"], row["modifiedby@table"] = by, "systemuser"
            _derive(spec, row)
            row["versionnumber"] = self.next_version()
            spec.index_row(row)
            snapshot = dict(row)
        self._announce(Change(self, table, "Update", key, snapshot, by, moment, tuple(values)))
        return snapshot

    def delete(self, table: str, row_id: str, *, by: str) -> None:
        spec = self._table(table)
        moment = self.dynamics.sandbox.clock.now()
        with self.lock:
            key = norm_id(row_id)
            row = spec.rows.pop(key, None)
            if row is None:
                raise RowNotFound(table, key)
            spec.unindex_row(row)
            if self._undo is not None:
                self._undo.append(("delete", table, key, row, len(self.tombstones)))
            self.tombstones.append(Tombstone(self.next_version(), table, key, moment))
        self._announce(Change(self, table, "Delete", key, row, by, moment))

    def backdate(self, table: str, ids: Iterable[str], modifiedon: datetime) -> int:
        """An import stamping past `modifiedon` on rows: each still gets a new versionnumber (so change tracking
        sees it) but no Change is announced. Returns how many rows were found."""
        spec = self._table(table)
        count = 0
        with self.lock:
            for row_id in ids:
                row = spec.rows.get(norm_id(row_id))
                if row is not None:
                    row["modifiedon"] = modifiedon
                    row["versionnumber"] = self.next_version()
                    count += 1
        return count

    def put_rows(self, table: str, rows: Iterable[Row]) -> None:
        """Seeding: rows stored as given (each must carry its id and system columns), with fresh versions; nothing
        announced."""
        spec = self._table(table)
        with self.lock:
            for row in rows:
                _derive(spec, row)
                row["versionnumber"] = self.next_version()
                spec.rows[norm_id(row[spec.primary_id])] = row
                spec.index_row(row)

    def _announce(self, change: Change) -> None:
        if self._held is not None:
            self._held.append(change)
            return
        for listener in list(self.dynamics.listeners):
            listener(change)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside succeed together or none stays (a $batch change set): holds the lock, keeps an undo
        log, and announces the writes' Changes only when the block ends without an exception."""
        with self.lock:
            if self._undo is not None:  # nested: the outer transaction decides
                yield
                return
            self._undo, self._held = [], []
            try:
                yield
            except BaseException:
                self._rollback(self._undo)
                self._undo = self._held = None
                raise
            held = self._held
            self._undo = self._held = None
        for change in held:
            self._announce(change)

    def _rollback(self, undo: list[tuple[Any, ...]]) -> None:
        for step in reversed(undo):
            kind, table, key = step[0], step[1], step[2]
            spec = self.tables[table]
            current = spec.rows.pop(key, None)
            if current is not None:
                spec.unindex_row(current)
            if kind in ("update", "delete"):
                spec.rows[key] = step[3]
                spec.index_row(step[3])
            if kind == "delete":
                del self.tombstones[step[4] :]


def _seconds(moment: datetime) -> datetime:
    """Dataverse keeps datetimes to the second."""
    return moment.replace(microsecond=0)


def _derive(table: Table, row: Row) -> None:
    """Columns the platform computes: fullname from first and last name (lead, contact, systemuser)."""
    if "fullname" in table.attributes and ("firstname" in row or "lastname" in row):
        row["fullname"] = " ".join(part for part in (row.get("firstname"), row.get("lastname")) if part) or None
