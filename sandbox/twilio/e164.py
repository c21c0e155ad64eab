"""E.164 phone numbers: validation, and the city/state/country Twilio adds to inbound webhooks."""

from __future__ import annotations

import phonenumbers
from phonenumbers import geocoder


def parse_e164(number: str) -> phonenumbers.PhoneNumber | None:
    """A valid E.164 number (leading '+'), or None."""
    if not number or not number.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number:
        return None
    return parsed


def geo(number: str) -> dict[str, str]:
    """City, state, zip and country as Twilio adds them to inbound webhooks ("" when unknown, as Twilio does)."""
    parsed = parse_e164(number)
    if parsed is None:
        return {"City": "", "State": "", "Zip": "", "Country": ""}
    description = geocoder.description_for_number(parsed, "en")
    city, _, state = description.rpartition(", ")
    if not city or len(state) != 2:
        city, state = "", ""
    return {
        "City": city.upper(),
        "State": state,
        "Zip": "",  # UNCONFIRMED data: the sandbox has no ZIP data
        "Country": phonenumbers.region_code_for_number(parsed) or "",
    }
