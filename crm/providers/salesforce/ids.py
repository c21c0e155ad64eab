"""Salesforce ids: the 15- and 18-character forms (the 18-character one, case-insensitive-safe, is the API's and the
one Leadline stores), user ids, and the org and user ids of an identity URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """A Salesforce id in its 18-character form (the API's, case-insensitive-safe); a 15-character id gains its
    checksum suffix. Anything else comes back as it is (the caller decides whether it is an id at all)."""
    text = (value or "").strip()
    if len(text) != 15 or not _SF_ID.match(text):
        return text
    suffix = ""
    for start in (0, 5, 10):
        chunk = text[start : start + 5]
        bits = sum(1 << position for position, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM[bits]
    return text + suffix


def is_id(value: str) -> bool:
    return bool(_SF_ID.match(value or ""))


def user_id_clean(value: str) -> str:
    """A member's Salesforce user id as Leadline stores it (the 18-character form the API and sign-in give, so a
    15-character id copied from a Salesforce page matches too); ValueError saying why for anything else."""
    text = (value or "").strip()
    if not is_id(text) or not text.startswith("005"):
        raise ValueError(f"{text!r} is not a Salesforce user id (15 or 18 letters and digits starting 005)")
    return id18(text)


def ids_from_identity_url(url: str) -> tuple[str, str]:
    """(org id, user id) from an identity URL `https://<login host>/id/<org id>/<user id>`; ("", "") if not one."""
    parts = [part for part in urlsplit(url or "").path.split("/") if part]
    if len(parts) >= 3 and parts[-3] == "id" and is_id(parts[-2]) and is_id(parts[-1]):
        return id18(parts[-2]), id18(parts[-1])
    return "", ""
