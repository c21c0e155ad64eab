"""How many SMS segments a body takes (docs/vendors/twilio.md, Opt-out and segments): GSM-7 160 single / 153 per
concatenated part, UCS-2 70 / 67.

Any character outside GSM-7 (basic set and extension table) makes the whole message UCS-2. Extension characters
(`^{}\\[~]|€` and form feed) take two septets; UCS-2 counts UTF-16 code units, so an emoji takes two. A part never
splits an escape pair or a surrogate pair (the usual encoder behaviour), so such a unit moves to the next part.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(body: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)


def encoding(body: str) -> str:
    return "GSM-7" if is_gsm7(body) else "UCS-2"


def _units(body: str) -> tuple[list[int], int, int]:
    """Per-character sizes (septets or UTF-16 code units) and the single/part capacities."""
    if is_gsm7(body):
        return [2 if ch in GSM7_EXTENSION else 1 for ch in body], GSM7_SINGLE, GSM7_PART
    return [2 if ord(ch) > 0xFFFF else 1 for ch in body], UCS2_SINGLE, UCS2_PART


def length_units(body: str) -> int:
    """The length the 1,600 limit applies to: UTF-16 code units (UNCONFIRMED; Twilio says some characters count
    as several)."""
    return len(body.encode("utf-16-le")) // 2


def count_segments(body: str) -> int:
    """Segments for an SMS body; an empty body (media only) counts as one."""
    sizes, single, part = _units(body)
    total = sum(sizes)
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return segments
