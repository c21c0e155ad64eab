"""SOQL text the provider sends, built in one place: literals escaped (strings, ids validated, datetimes in UTC),
the (SystemModstamp, Id) keyset of a delta page, `Id IN (...)` lists, and field lists split so that every query's
URI stays under SALESFORCE_URI_MAX_BYTES (Salesforce refuses a URI + headers over 16,384 bytes: 414/431).

    soql.select(["Id", "SystemModstamp", "LastName"], "Lead", where=soql.keyset_after(moment, "00Q..."),
                order_by="SystemModstamp, Id", limit=2000)

Field and object names come from Salesforce's own describe and are checked against `NAME`; values are never put in
a query unescaped (docs/vendors/salesforce.md, SOQL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
# SOQL string escapes (single-quoted literals): the backslash first.
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_ESCAPE = re.compile("|".join(re.escape(char) for char in _ESCAPES))
MAX_ID_LENGTH = 18
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def name(value: str) -> str:
    """A field or object API name, refused unless it looks like one (they come from describe, never from input)."""
    if not NAME.fullmatch(value or ""):
        raise ValueError(f"not a Salesforce API name: {value!r}")
    return value


def id_checksum(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character id (which of each five characters are upper case),
    making it unique case-insensitively."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << offset for offset, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def is_record_id(value: str) -> bool:
    """A 15-character id, or an 18-character one whose last three characters are its checksum (Salesforce refuses
    a query naming an 18-character id with a wrong one: INVALID_QUERY_FILTER_OPERATOR)."""
    text = str(value or "")
    if not RECORD_ID.fullmatch(text):
        return False
    return len(text) == 15 or id_checksum(text[:15]) == text[15:].upper()


def record_id(value: str) -> str:
    """A record id (`is_record_id`); ValueError for anything else (never put into a query unchecked)."""
    text = str(value or "")
    if not is_record_id(text):
        raise ValueError(f"not a Salesforce record id: {text!r}")
    return text


def string(value: str) -> str:
    """A SOQL string literal: quotes, backslashes and control characters escaped."""
    return "'" + _ESCAPE.sub(lambda match: _ESCAPES[match.group(0)], str(value)) + "'"


def id_literal(value: str) -> str:
    return "'" + record_id(value) + "'"


def datetime_literal(moment: datetime) -> str:
    """A SOQL datetime literal (unquoted), UTC; milliseconds only when there are any."""
    if moment.tzinfo is None:
        raise ValueError("a SOQL datetime must be timezone-aware")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def keyset_after(moment: datetime | None, last_id: str = "", *, field: str = "SystemModstamp") -> str:
    """The records after (moment, last_id) in (field, Id) order; every record at `moment` without `last_id`; "" (no
    condition) from the beginning."""
    if moment is None:
        return ""
    at = datetime_literal(moment)
    if not last_id:
        return f"{field} >= {at}"
    return f"({field} > {at} OR ({field} = {at} AND Id > {id_literal(last_id)}))"


def ids_in(ids: Iterable[str]) -> str:
    return "Id IN (" + ", ".join(id_literal(value) for value in ids) + ")"


def select(
    fields: Sequence[str],
    sobject: str,
    *,
    where: str = "",
    order_by: str = "",
    limit: int | None = None,
) -> str:
    parts = [f"SELECT {', '.join(name(field) for field in fields)} FROM {name(sobject)}"]  # noqa: S608 (SOQL, names checked)
    if where:
        parts.append(f"WHERE {where}")
    if order_by:
        parts.append(f"ORDER BY {order_by}")
    if limit is not None:
        parts.append(f"LIMIT {int(limit)}")
    return " ".join(parts)


# --- URI budget ----------------------------------------------------------------------------------------------------
def encoded_bytes(text: str) -> int:
    """How many bytes `text` takes in a query string, encoded as requests sends it (spaces as +, the rest %XX)."""
    return len(urlencode({"": text})) - 1


def fields_bytes(fields: Sequence[str]) -> int:
    return encoded_bytes(", ".join(fields))


def ids_bytes(count: int) -> int:
    """The encoded size of `count` 18-character ids in an `Id IN (...)` list, separators included."""
    return count * encoded_bytes(f"'{'a' * MAX_ID_LENGTH}', ")


def field_chunks(fields: Sequence[str], *, budget: int) -> list[list[str]]:
    """`fields` in consecutive groups whose comma-separated list encodes to at most `budget` bytes each (in order;
    a field longer than the budget alone in its group)."""
    separator = encoded_bytes(", ")
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for field in fields:
        size = encoded_bytes(field) + (separator if current else 0)
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
            size = encoded_bytes(field)
        current.append(field)
        used += size
    if current:
        chunks.append(current)
    return chunks


def ids_per_query(*, budget: int) -> int:
    """How many 18-character ids an `Id IN (...)` list can hold in `budget` encoded bytes (at least one)."""
    return max(1, budget // ids_bytes(1))
