"""One Dataverse table in memory: its columns (`Attribute`, what metadata.py publishes), its alternate keys and its
rows, plus the records of what happened to rows (`Change` for listeners, `Tombstone` for change tracking).

Rows are dicts keyed by column logical name, values in stored form: strings, ints (option sets, statecode,
statuscode, versionnumber), floats (money), bools, aware UTC datetimes (DateAndTime columns), "YYYY-MM-DD"
strings (DateOnly columns), and for a lookup column the target row's id (str GUID) with the target table's logical
name under `"<column>@table"` (shapes.py turns these into `_<column>_value` and its annotations; keys holding "@"
are never columns)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Row = dict[str, Any]

# AttributeType values (AttributeTypeCode) and the metadata classes they publish as.
LOOKUP_TYPES = ("Lookup", "Owner", "Customer")
METADATA_CLASS = {
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Double": "DoubleAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Uniqueidentifier": "AttributeMetadata",
    "EntityName": "EntityNameAttributeMetadata",
}


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for a table or column (the same in every environment, as in real orgs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dataverse-metadata:" + ":".join(parts)))


@dataclass
class Attribute:
    logical_name: str
    type: str  # AttributeType: String, Memo, Integer, Money, Boolean, DateTime, Lookup, Owner, Customer, Picklist...
    display_name: str = ""
    format: str = ""  # FormatName: Email, Phone, Text, TextArea, Url (strings); DateOnly, DateAndTime (datetimes)
    required: str = "None"  # RequiredLevel: None, Recommended, ApplicationRequired, SystemRequired
    max_length: int | None = None
    targets: tuple[str, ...] = ()  # lookups: the tables it may point at
    options: tuple[tuple[int, str], ...] = ()  # option sets: (Value, Label)
    valid_for_create: bool = True
    valid_for_update: bool = True
    valid_for_read: bool = True
    custom: bool = False
    table: str = ""

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def is_option_set(self) -> bool:
        return self.type in ("Picklist", "State", "Status")

    @property
    def metadata_id(self) -> str:
        return metadata_id(self.table, self.logical_name)

    def label(self, value: Any) -> str | None:
        for number, text in self.options:
            if number == value:
                return text
        return None


@dataclass
class Table:
    logical_name: str
    entity_set_name: str
    primary_id: str
    primary_name: str
    display_name: str = ""
    display_collection_name: str = ""
    change_tracking: bool = True
    is_activity: bool = False
    custom: bool = False
    object_type_code: int = 0
    attributes: dict[str, Attribute] = field(default_factory=dict)
    alternate_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key logical name -> columns
    rows: dict[str, Row] = field(default_factory=dict)  # id (lower-case GUID) -> row
    key_indexes: dict[str, dict[tuple[Any, ...], str]] = field(default_factory=dict, repr=False)  # key -> id

    @property
    def metadata_id(self) -> str:
        return metadata_id(self.logical_name)

    def attribute(self, name: str) -> Attribute | None:
        return self.attributes.get(name)

    def lookups(self) -> list[Attribute]:
        return [attribute for attribute in self.attributes.values() if attribute.is_lookup]

    def find_by_key(self, values: dict[str, Any]) -> Row | None:
        """The row whose columns equal `values` (strings compared case-insensitively as Dataverse's default
        collation does): through the alternate key's index when `values` are a key's columns, else a scan."""
        for name, columns in self.alternate_keys.items():
            if set(columns) == set(values):
                wanted = _key_value(columns, values)
                found = self.rows.get(self._index(name).get(wanted, "")) if wanted is not None else None
                return found if found is not None and _key_value(columns, found) == wanted else None
        for row in self.rows.values():
            if all(_same(row.get(name), value) for name, value in values.items()):
                return row
        return None

    def index_row(self, row: Row) -> None:
        """Keep the alternate keys' indexes current (Environment calls it after storing a row)."""
        for name, columns in self.alternate_keys.items():
            key = _key_value(columns, row)
            if key is not None:
                self._index(name)[key] = row[self.primary_id]

    def unindex_row(self, row: Row) -> None:
        for name, columns in self.alternate_keys.items():
            key = _key_value(columns, row)
            index = self._index(name)
            if key is not None and index.get(key) == row[self.primary_id]:
                del index[key]

    def _index(self, name: str) -> dict[tuple[Any, ...], str]:
        index = self.key_indexes.get(name)
        if index is None:  # first use (or a key defined after rows were stored): build it once
            index = self.key_indexes[name] = {}
            for row in self.rows.values():
                key = _key_value(self.alternate_keys[name], row)
                if key is not None:
                    index[key] = row[self.primary_id]
        return index


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return left == right


def _key_value(columns: tuple[str, ...], source: dict[str, Any]) -> tuple[Any, ...] | None:
    values = [source.get(column) for column in columns]
    if any(value is None for value in values):
        return None
    return tuple(value.casefold() if isinstance(value, str) else value for value in values)


@dataclass(frozen=True)
class Tombstone:
    """A deleted row, for change tracking's $deletedEntity answers."""

    version: int
    table: str
    id: str
    at: datetime


@dataclass(frozen=True)
class Change:
    """One write through Environment.create/update/delete, for listeners (webhooks). operation: "Create" |
    "Update" | "Delete" (Dataverse's message names); row: the row after the write (before it, for Delete);
    by_user: the systemuserid who made it (an application user's id for API calls with an app token)."""

    environment: Any  # Environment (typed loosely to avoid an import circle)
    table: str
    operation: str
    row_id: str
    row: Row
    by_user: str
    at: datetime
    changed: tuple[str, ...] = ()  # the columns the write set
