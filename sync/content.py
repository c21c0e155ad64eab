"""What identifies a mirrored object (`MirrorKey`) and what a mirrored record's content is (`record_serialized`).

key = MirrorKey(organization_id=7, connection_id=12, object="lead")
digest, fields_json, custom_json = record_serialized(record)  # a crm.records.CanonicalRecord
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from crm.records import CanonicalRecord

_CACHE = "_mirror_serialized"
# One encoder for every dump: json.dumps with options builds a new JSONEncoder per call (six per record), about a
# third of the serialization's time in a profile of the mirror upsert. Same class and options as
# json.dumps(value, sort_keys=True, default=str, separators=(",", ":")), so the same text and hash; encode() keeps no
# state between calls (safe from any thread).
_ENCODER = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


@dataclass(frozen=True)
class MirrorKey:
    """One object of one connection of one organization: every mirror row, run and cursor is keyed by it."""

    organization_id: int
    connection_id: int | None
    object: str

    def values(self) -> dict[str, Any]:
        """As model field values (filters and new rows)."""
        return {"organization_id": self.organization_id, "connection_id": self.connection_id, "object": self.object}


def content_serialized(
    *, name: str, email: str, owner_id: str, owner_name: str, fields: Any, custom_fields: Any
) -> tuple[str, str, str]:
    """(content hash, `fields` as JSON, `custom_fields` as JSON): the upsert writes the same JSON the hash was taken
    of. The hash is the md5 of json.dumps([name, email, owner_id, owner_name, fields, custom_fields],
    sort_keys=True), built from the two dumps instead of a third: an edit landing in the same second as the stored
    one still replaces it, and records read again unchanged are not rewritten."""
    encode = _ENCODER.encode
    fields_json, custom_json = encode(fields), encode(custom_fields)
    text = f"[{encode(name)},{encode(email)},{encode(owner_id)},{encode(owner_name)},{fields_json},{custom_json}]"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(), fields_json, custom_json


def record_serialized(record: CanonicalRecord) -> tuple[str, str, str]:
    """`content_serialized` of a record, computed once per record (kept on it: the guard and the write both need
    it, and a CanonicalRecord never changes)."""
    cached = record.__dict__.get(_CACHE)
    if cached is None:
        cached = content_serialized(
            name=record.name,
            email=record.email,
            owner_id=record.owner_id,
            owner_name=record.owner_name,
            fields=record.fields,
            custom_fields=record.custom_fields,
        )
        object.__setattr__(record, _CACHE, cached)  # frozen for its values; this is derived from them
    return cached
