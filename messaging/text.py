"""What a text body is: its encoding and segment count (what carriers bill), whether it is a keyword
(STOP/START/HELP, CTIA practice). Message templates are rendered by core.merge_fields."""

from __future__ import annotations

from dataclasses import dataclass

from core.exceptions import ApplicationError

MAX_BODY_UNITS = 1600  # Twilio's limit, counted in UTF-16 code units

# GSM 03.38: the basic set costs one septet, the extension table two (an escape and the character).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
_CAPACITY = {"GSM-7": (160, 153), "UCS-2": (70, 67)}  # single message, each part of a concatenated one

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


@dataclass(frozen=True)
class BodyShape:
    encoding: str
    segments: int
    units: int


def body_shape(body: str) -> BodyShape:
    """Encoding and segments as carriers count them: any non-GSM character makes the whole text UCS-2; a part
    never splits an escape pair or a surrogate pair."""
    gsm = all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in body)
    encoding = "GSM-7" if gsm else "UCS-2"
    if gsm:
        sizes = [2 if ch in _GSM7_EXTENDED else 1 for ch in body]
    else:
        sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
    single, part = _CAPACITY[encoding]
    if sum(sizes) <= single:
        segments = 1
    else:
        segments, used = 1, 0
        for size in sizes:
            if used + size > part:
                segments, used = segments + 1, 0
            used += size
    return BodyShape(encoding=encoding, segments=segments, units=len(body.encode("utf-16-le")) // 2)


def body_check(body: str | None) -> str:
    """The body as it will be sent, or an ApplicationError saying why it cannot be."""
    text = body or ""
    if not text.strip():
        raise ApplicationError("A text needs a message; the body is empty.", extra={"field": "body"})
    units = body_shape(text).units
    if units > MAX_BODY_UNITS:
        raise ApplicationError(
            f"The message is {units} characters; the limit is {MAX_BODY_UNITS}. Shorten it or send two texts.",
            extra={"field": "body", "length": units, "limit": MAX_BODY_UNITS},
        )
    return text


def keyword_of(body: str | None) -> str | None:
    """ "STOP", "START" or "HELP" when the whole text is one of the keywords (case and surrounding whitespace
    ignored; "stop please" is an ordinary text), else None."""
    word = (body or "").strip().upper()
    if not word or any(ch.isspace() for ch in word):
        return None
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    if word in HELP_KEYWORDS:
        return "HELP"
    return None
