"""Phone numbers: parsed and validated with `phonenumbers`, stored in E.164 (+14155550100)."""

import phonenumbers

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
