"""Secrets at rest and in memory.

`Secret` wraps a decrypted credential so that printing, logging or an error report (Sentry captures frame
locals through repr) shows a mask; code that truly needs the value calls `.reveal()`, which is easy to grep.
`EncryptedSecretField` stores values as Fernet tokens under MultiFernet(FIELD_ENCRYPTION_KEYS): the first key
encrypts, every key decrypts, so keys rotate without downtime (`manage.py encryption_keys rotate`).
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.text import capfirst


class Secret:
    """A credential that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The plaintext, for the one place that must send it to a vendor."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # pickling would write the plaintext somewhere we do not control
        raise TypeError("Secret values cannot be pickled")


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key (a key was removed too early)."""


def field_encryption_keys_check(keys: list[str] | tuple[str, ...]) -> list[Fernet]:
    """Every configured key as a Fernet, or ImproperlyConfigured naming the position of the first bad one (never
    the value: the message reaches logs). Called at start-up (CoreConfig.ready), so a typo in a key stops the
    process at once instead of at the first secret written hours later."""
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(str(key).strip().encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key {position} of {len(keys)} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); generate one with `manage.py encryption_keys generate`"
            ) from None
    return fernets


def _build_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet(field_encryption_keys_check(keys))


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return _build_fernet(keys)


def get_fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return get_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return get_fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS; was a key removed before rotation?"
        ) from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a stored token under the newest key."""
    try:
        return get_fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


class EncryptedSecretField(models.TextField):
    """A text column holding a Fernet token; Python sees a `Secret`, or "" when unset."""

    description = "Encrypted secret"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | str | None:
        if value is None or value == "":
            return value
        return Secret(decrypt(value))

    def to_python(self, value: Any) -> Secret | str | None:
        if value is None or value == "" or isinstance(value, Secret):
            return value
        return Secret(str(value))

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return value
        if isinstance(value, Secret):
            return encrypt(value.reveal())
        if isinstance(value, str):
            return encrypt(value)
        raise TypeError(f"{self.name}: expected a str or Secret, got {type(value).__name__}")

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisers (dumpdata) get nothing: a secret leaves the database only through reveal().
        return ""

    def formfield(self, **kwargs: Any) -> Any:
        from core.forms import SecretFormField

        return SecretFormField(required=not self.blank, label=capfirst(self.verbose_name), help_text=self.help_text)
