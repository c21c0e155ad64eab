"""Salesforce record ids: 15 case-sensitive characters, or 18 with a case-insensitive checksum suffix.

An id is a 3-character key prefix naming the object (`00Q` Lead, `003` Contact, ...), then the rest. The REST API
answers 18-character ids everywhere; it accepts 15 or 18 in URLs and bodies. `to18(id15)` adds the suffix the
documented way: split the 15 characters into three chunks of 5, make a 5-bit number of each chunk (bit i set when
character i is an upper-case letter), and append "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[n] for each chunk (Salesforce
help "What is a Case Safe ID", and every client library's `to18`).

Emulator ids: `prefix (3) + pod "5g" + org tag (2, base 62) + counter (8, base 62)` + checksum. The counter digits
sort in ASCII order (0-9 < A-Z < a-z), so ids made later sort after earlier ones as plain strings (the kit's
store sorts Salesforce ids as strings: `id_key=str`) and two orgs never share an id.

Functions: `to18`, `to15`, `normalize(id) -> 18-char id | None`, `is_valid(id)`, `prefix_of(id)`,
`sobject_of(id)`, `make_id(prefix, org_tag, n)`, `org_id_for(n)`, and `OrgIds` (an org's id factory).
"""

from __future__ import annotations

import functools
import re
import threading

CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
POD = "5g"
ID_PATTERN = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")

# Key prefixes (the first three characters of an id) of the objects the emulator serves.
KEY_PREFIXES = {
    "Organization": "00D",
    "User": "005",
    "Lead": "00Q",
    "Contact": "003",
    "Account": "001",
    "Opportunity": "006",
    "Task": "00T",
    "BulkJob": "750",  # Bulk API 2.0 jobs (AsyncApexJob-like 750 prefix)
    "QueryLocator": "01g",  # the first part of a nextRecordsUrl locator
    "ConnectedApp": "0H4",
    "Session": "0Ak",  # AuthSession ids
    "Grant": "0CQ",  # OauthToken ids (a refresh-token grant)
}
SOBJECT_OF_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


def checksum(id15: str) -> str:
    suffix = []
    for chunk in range(3):
        bits = 0
        for position in range(5):
            char = id15[chunk * 5 + position]
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def to18(record_id: str) -> str:
    """The 18-character form of a 15- (or already 18-) character id."""
    if len(record_id) == 18:
        return record_id[:15] + checksum(record_id[:15])
    if len(record_id) != 15:
        raise ValueError(f"not a Salesforce id: {record_id!r}")
    return record_id + checksum(record_id)


def to15(record_id: str) -> str:
    return record_id[:15]


def is_valid(record_id: object) -> bool:
    """15 or 18 base-62 characters, and an 18-character id's suffix matches its first 15 (case-insensitively,
    as Salesforce compares it)."""
    if not isinstance(record_id, str) or not ID_PATTERN.match(record_id):
        return False
    return len(record_id) == 15 or record_id[15:].upper() == checksum(record_id[:15])


def normalize(record_id: object) -> str | None:
    """The canonical 18-character id, or None when `record_id` is not an id."""
    if not isinstance(record_id, str):
        return None
    return _normalize(record_id)


@functools.lru_cache(maxsize=1 << 18)
def _normalize(record_id: str) -> str | None:
    if not is_valid(record_id):
        return None
    return to18(record_id[:15])


def prefix_of(record_id: str) -> str:
    return record_id[:3]


def sobject_of(record_id: str) -> str | None:
    """The object an id's key prefix names (None for prefixes the emulator does not know)."""
    return SOBJECT_OF_PREFIX.get(record_id[:3])


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    if number:
        raise ValueError("number too large for the width")
    return "".join(reversed(digits))


def make_id(prefix: str, org_tag: str, number: int) -> str:
    """An 18-character id: key prefix, pod, the org's 2-character tag, an 8-character counter, checksum."""
    return to18(f"{prefix}{POD}{org_tag}{base62(number, 8)}")


def org_tag_for(n: int) -> str:
    return base62(n, 2)


def org_id_for(n: int) -> str:
    """The 18-character id of the n-th org the emulator creates (the demo org has a fixed one: worlds.py)."""
    return make_id(KEY_PREFIXES["Organization"], org_tag_for(n), 0)


class OrgIds:
    """One org's ids: a counter shared by its objects (ids of one object still increase), under the org's tag.
    Numbers below `start` are left for ids written out by hand (the demo world's users)."""

    def __init__(self, org_tag: str, start: int = 1000) -> None:
        self.org_tag = org_tag
        self._next = start
        self._lock = threading.Lock()

    def reserve(self, count: int) -> int:
        """Take `count` numbers at once (seeding); returns the first."""
        with self._lock:
            first = self._next
            self._next += count
        return first

    def new(self, sobject: str) -> str:
        return make_id(KEY_PREFIXES[sobject], self.org_tag, self.reserve(1))

    def new_for_prefix(self, prefix: str) -> str:
        return make_id(prefix, self.org_tag, self.reserve(1))
