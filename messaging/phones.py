"""Who texted us, as a key: E.164 when the phone library knows the number, else the sender as sent without
separators. Short codes, numbers newer than the library's data and fictional +1 555 numbers text STOP too, and
their STOP must reach the opt-out ledger (TCPA practice) rather than be dropped as "not a phone number"."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from core.phone import E164Field, normalize_e164

# An optional + and 3 to 15 digits: E.164's longest, a short code's shortest.
_SENDER = re.compile(r"\+?\d{3,15}")
_SEPARATORS = re.compile(r"[\s\-.()/]")


def sender_normalize(raw: str | None) -> str | None:
    """E.164, else the sender without separators; None when it is no number at all (an alphanumeric sender id)."""
    try:
        return normalize_e164(raw or "")
    except ValidationError:
        pass
    compact = _SEPARATORS.sub("", raw or "")
    return compact if _SENDER.fullmatch(compact) else None


class SenderPhoneField(E164Field):
    """A phone column that also holds a sender the phone library calls invalid, keyed by `sender_normalize`.
    E164Field normalizes every lookup value, so a plain one cannot even look such a sender up. What a person types
    is still validated as E.164 (the field's validator runs in forms and full_clean)."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            key = sender_normalize(value)
            if key is None:
                raise
            return key
