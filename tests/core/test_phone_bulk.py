"""`e164_or_blank`, the E.164 of numbers read in bulk from CRMs: its North American fast path gives exactly what a
full parse gives, whatever the typing, and a number that is not dialable is blank, never an error."""

from __future__ import annotations

import random

import pytest

from django.core.exceptions import ValidationError

from core.phone import e164_or_blank, normalize_e164

FORMATS = (
    "+1 {a}-{e}-{l}",
    "({a}) {e}-{l}",
    "{a}.{e}.{l}",
    "{a}{e}{l}",
    "1-{a}-{e}-{l}",
    "1{a}{e}{l}",
    "+{a}{e}{l}",
    "{e}-{l}",
    "0{a}{e}{l}",
    "+44 20 7946 {l}",
    "{a}-{e}-{l} x12",
)


def reference(value: str, region: str) -> str:
    try:
        return normalize_e164(value, default_region=region)
    except ValidationError:
        return ""


def test_phones_match_phonenumbers_for_every_format_region_and_area_code():
    rng = random.Random(11)
    for _ in range(1500):
        parts = {"a": f"{rng.randint(100, 999)}", "e": f"{rng.randint(0, 999):03d}", "l": f"{rng.randint(0, 9999):04d}"}
        value = rng.choice(FORMATS).format(**parts)
        for region in ("US", "CA", "GB"):
            assert e164_or_blank(value, region) == reference(value, region), (value, region)


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("(415) 555-0100", "US", "+14155550100"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("555-0100", "US", ""),
        ("call me", "US", ""),
        ("", "US", ""),
    ],
)
def test_numbers_in_any_format_or_none(value, region, expected):
    assert e164_or_blank(value, region) == expected
