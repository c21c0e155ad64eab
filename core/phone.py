"""Phone numbers: parsed and validated with `phonenumbers`, stored in E.164 (+14155550100)."""

import re
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from django.core.exceptions import ValidationError
from django.db import models


def normalize_e164(value: str, *, default_region: str | None = None) -> str:
    """Return `value` in E.164 or raise ValidationError saying what is wrong with it.

    Without a default region the number must carry its country code (a leading +), because "(415) 555-0100"
    means different numbers in different countries. Spaces, dashes, dots and brackets are accepted and dropped.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("A phone number is required.", code="required")
    if default_region is None and not raw.startswith("+"):
        raise ValidationError(
            f"{raw!r} is not in E.164 format: start with + and the country code, e.g. +14155550100.",
            code="e164_country_code",
        )
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"{raw!r} is not a phone number ({exc}).", code="e164_unparseable") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            f"{raw!r} is not a valid phone number for its country (+{parsed.country_code}); check the digits.",
            code="e164_invalid",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    """Model-field validator: accepts only what normalizes to itself, i.e. stored values are already E.164."""
    normalized = normalize_e164(value)
    if normalized != value:
        raise ValidationError(f"{value!r} must be stored as {normalized}.", code="e164_not_normalized")


class E164Field(models.CharField):
    """A phone number column: whatever a person types is normalized to E.164 on validation, or refused."""

    default_validators = [validate_e164]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return value
        return normalize_e164(value)


# --- E.164 of numbers read from CRMs, many at a time (the mirror's hot path) -----------------------------------------
# A North American number typed with digits and separators is checked against phonenumbers' own metadata patterns for
# the main +1 region directly, a tenth of the cost of a parse, with the same answer: phonenumbers resolves a +1
# number's region by trying that region first, with these same patterns. Anything else is parsed (and cached).
NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ()))
NANP_TYPED = re.compile(r"\+?[0-9 ().-]+")  # how people type North American numbers: digits and separators
NOT_DIGITS = re.compile(r"[^0-9]")
NANP_NATIONAL = re.compile(r"[2-9][0-9]{9}")
_NUMBER_KINDS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def _compiled(desc: Any) -> tuple[frozenset[int], re.Pattern]:
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


_NANP_METADATA = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(1))  # "US"
NANP_GENERAL = _compiled(_NANP_METADATA.general_desc)
NANP_TYPES = [
    _compiled(desc)
    for desc in (getattr(_NANP_METADATA, name) for name in (*_NUMBER_KINDS, "fixed_line", "mobile"))
    if desc and desc.national_number_pattern
]


def _matches(national: str, lengths: frozenset[int], pattern: re.Pattern) -> bool:
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _nanp_e164(value: str, region: str) -> str:
    """E.164 of a valid North American number typed with digits and separators; "" to let phonenumbers decide."""
    if not value or not NANP_TYPED.fullmatch(value):
        return ""
    digits = NOT_DIGITS.sub("", value)
    if len(digits) == 11 and digits[0] == "1" and (value[0] == "+" or region in NANP_REGIONS):
        national = digits[1:]
    elif len(digits) == 10 and value[0] != "+" and region in NANP_REGIONS:
        national = digits
    else:
        return ""
    if not NANP_NATIONAL.fullmatch(national) or not _matches(national, *NANP_GENERAL):
        return ""
    return f"+1{national}" if any(_matches(national, *kind) for kind in NANP_TYPES) else ""


@lru_cache(maxsize=8192)
def _parsed_e164(value: str, region: str) -> str:
    try:
        return normalize_e164(value, default_region=region)
    except ValidationError:
        return ""


def e164_or_blank(value: str, region: str) -> str:
    """`value` in E.164 (a number typed in `region` when it has no country code), "" when it is no dialable number:
    for numbers read in bulk (a CRM's phone fields), where a bad one is kept as typed and only not indexed."""
    return _nanp_e164(value, region) or _parsed_e164(value, region)
