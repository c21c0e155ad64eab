"""Failed sign-ins, counted per account (e-mail) and per client address in the cache; too many lock both out.

One place decides for every way in: `identity.backends.MemberBackend` for passwords (the admin login and the
staff login both authenticate through it) and `identity.authentication.WidgetTokenAuthentication` for the
widget's bearer tokens. Before a credential is checked, `sign_in_check` refuses a locked account or address with
`SignInThrottled` ("Too many failed sign-ins; try again in N minutes"), so a locked attempt costs no password
hash and tells nothing about whether the account exists. After ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT (or _PER_ADDRESS)
failures within ACCOUNTS_SIGN_IN_WINDOW_SECONDS the account (or address) is locked for that window; a success clears
the account's count (never the address's: one good account must not reset the guesses at others).

Passwords and widget tokens are counted apart (`kind`), so an office whose address guessed passwords still has
working widgets, and the other way round. Counts live in fixed windows keyed by the window's number (the previous
window's count is added, so a burst across a window's edge counts whole), so a cache whose `incr` resets the expiry
(the database cache of the embedded default) still forgets them on time; Redis's `incr` is atomic, so parallel
guesses are all counted. Keys hold a digest of the e-mail, never the address itself.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import structlog

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.client_address import UNKNOWN, client_address

logger = structlog.get_logger(__name__)

PASSWORD = "password"  # noqa: S105 (a kind of credential, not one)
WIDGET_TOKEN = "widget_token"  # noqa: S105
KEY_PREFIX = "accounts:sign-in"


class SignInThrottled(ValidationError):
    """Too many failed sign-ins for this account or address. A ValidationError, so that Django's authentication
    forms (admin and staff login) show it as the form's error; `retry_after` is in seconds."""

    def __init__(self, *, retry_after: int):
        minutes = max(1, math.ceil(retry_after / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many failed sign-ins; try again in {minutes} {unit}.", code="throttled")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignInAttempt:
    """Who is trying: the kind of credential, the account named (if any) and the client address (if known)."""

    kind: str
    account: str | None
    address: str | None

    @classmethod
    def for_request(cls, *, kind: str, request: HttpRequest | None, account: str | None = None) -> SignInAttempt:
        address = client_address(request) if request is not None else None
        normalized = account.strip().casefold() if isinstance(account, str) and account.strip() else None
        return cls(kind=kind, account=normalized, address=address if address not in (None, UNKNOWN) else None)

    def scopes(self) -> list[tuple[str, str, int]]:
        """(scope, digest, limit) for each counter this attempt touches."""
        scopes = []
        if self.account:
            digest = hashlib.sha256(self.account.encode()).hexdigest()[:32]
            scopes.append(("account", digest, settings.ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT))
        if self.address:
            scopes.append(("address", self.address, settings.ACCOUNTS_SIGN_IN_FAILURES_PER_ADDRESS))
        return scopes


def _lock_key(kind: str, scope: str, ident: str) -> str:
    return f"{KEY_PREFIX}:lock:{kind}:{scope}:{ident}"


def _count_key(kind: str, scope: str, ident: str, window_number: int) -> str:
    return f"{KEY_PREFIX}:failures:{kind}:{scope}:{ident}:{window_number}"


def _window() -> int:
    return max(1, int(settings.ACCOUNTS_SIGN_IN_WINDOW_SECONDS))


def sign_in_check(attempt: SignInAttempt) -> None:
    """Raise SignInThrottled when the attempt's account or address is locked; checks no credential."""
    keys = [_lock_key(attempt.kind, scope, ident) for scope, ident, _limit in attempt.scopes()]
    if not keys:
        return
    locks = cache.get_many(keys)
    if locks:
        until = max(float(value) for value in locks.values())
        raise SignInThrottled(retry_after=max(1, math.ceil(until - time.time())))


def sign_in_failed(attempt: SignInAttempt) -> None:
    """Count a failure against the account and the address; lock whichever reached its limit."""
    window = _window()
    now = time.time()
    window_number = int(now // window)
    for scope, ident, limit in attempt.scopes():
        key = _count_key(attempt.kind, scope, ident, window_number)
        # Kept for two windows: the previous window's count still weighs in the next one.
        if cache.add(key, 1, 2 * window):
            failures = 1
        else:
            try:
                failures = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, 2 * window)
                failures = 1
            cache.touch(key, 2 * window)  # some caches' incr resets the expiry to their default
        # Failures of the previous window count too, so a burst across a window's edge is not forgiven halfway.
        failures += int(cache.get(_count_key(attempt.kind, scope, ident, window_number - 1)) or 0)
        if limit > 0 and failures >= limit:
            cache.set(_lock_key(attempt.kind, scope, ident), now + window, window)
            logger.warning("accounts.sign_in.locked", kind=attempt.kind, scope=scope, failures=failures)


def sign_in_succeeded(attempt: SignInAttempt) -> None:
    """A success clears the account's failures (the address keeps its count)."""
    window_number = int(time.time() // _window())
    for scope, ident, _limit in attempt.scopes():
        if scope == "account":
            cache.delete_many(
                [_count_key(attempt.kind, scope, ident, number) for number in (window_number - 1, window_number)]
            )
