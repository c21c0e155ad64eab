"""The mapping's fast paths give exactly what the general path gives: typed values, the content hash (phones:
tests/core/test_phone_bulk.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from crm.providers.zoho.mapping import (
    CONVERTERS,
    CURRENCY,
    DATE,
    DATETIME,
    DECIMAL,
    INTEGER,
    MULTI,
    TEXT,
    MappedRecord,
    typed_value,
)
from crm.providers.zoho.mapping import _jsonable as jsonable


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (TEXT, "  padded "),
        (TEXT, "   "),
        (TEXT, ""),
        (TEXT, None),
        (DATETIME, "2026-03-01T09:30:00-05:00"),
        (DATE, "2026-02-28"),
        (DATE, "20260228"),
        (INTEGER, 42),
        (INTEGER, "42"),
        (DECIMAL, 5),
        (DECIMAL, 27.0),
        (DECIMAL, 1.02),
        (DECIMAL, 1e-7),
        (DECIMAL, 1e20),
        (CURRENCY, 5),
        (CURRENCY, 6119000.0),
        (CURRENCY, 1234.565),
        (CURRENCY, -0.0),
        (MULTI, [" Yoga", "Spin "]),
        (MULTI, ""),
    ],
)
def test_converters_give_what_typed_value_gives(kind, raw):
    expected = jsonable(typed_value(kind, raw))
    got = CONVERTERS[kind](raw)
    assert (got, type(got)) == (expected, type(expected))


def test_content_hash_is_the_md5_of_the_whole_payload_sorted():
    record = MappedRecord(
        zoho_id="1",
        modified_time=None,
        name="Zoë",
        email="z@example.com",
        owner_id="42",
        owner_name="Ana",
        fields={"b": [1, {"y": 2, "x": 1}], "a": "é\n\\"},
        custom_fields={"Z": None, "A": 1.5},
    )
    payload = [record.name, record.email, record.owner_id, record.owner_name, record.fields, record.custom_fields]
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    assert record.content_hash == hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
