"""One refresh of a CRM access token at a time, across processes: the token lives in the shared cache, and whoever
finds it missing takes a lock in the cache and refreshes while the others poll the cache for the new one. Each
provider's token broker brings its cache keys, its refresh and its errors."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

Token = TypeVar("Token")


def token_single_flight(
    *,
    lock_key: str,
    cached: Callable[[], Token | None],
    refresh: Callable[[], Token],
    before_try: Callable[[], None],
    timed_out: Callable[[], Exception],
    wait_seconds: float,
    lock_ttl: int,
    poll_seconds: tuple[float, float],
) -> Token:
    """The cached token, or the one a refresh gives: under the lock `lock_key` (held at most `lock_ttl` seconds)
    one process calls `refresh`; the others poll `cached` until it answers or `wait_seconds` pass, then raise
    `timed_out()`. `before_try` raises when no refresh may be tried now (a cool-down, a dead token)."""
    token = cached()
    if token is not None:
        return token
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while True:
        before_try()
        if cache.add(lock_key, owner, timeout=lock_ttl):
            try:
                token = cached()  # another process may have refreshed between our read and the lock
                if token is not None:
                    return token
                return refresh()
            finally:
                lock_release(lock_key, owner)
        if time.monotonic() >= deadline:
            raise timed_out()
        time.sleep(random.uniform(*poll_seconds))  # noqa: S311 (jitter, not security)
        token = cached()
        if token is not None:
            return token


def lock_release(lock_key: str, owner: str) -> None:
    # Only the holder deletes the lock; the TTL outlives any refresh, so the get-then-delete cannot race a new owner.
    if cache.get(lock_key) == owner:
        cache.delete(lock_key)


def cooldown_start(key: str, reason: str, seconds: float) -> float:
    """After a failed refresh, no process tries the token endpoint again for `seconds` (at least 1): every caller
    meanwhile hears `reason` (`cooldown_left`) instead of adding to the failing endpoint's load. Returns the wait."""
    seconds = max(float(seconds), 1.0)
    cache.set(key, {"reason": reason, "until": time.time() + seconds}, timeout=int(seconds) + 1)
    return seconds


def cooldown_left(key: str) -> tuple[str, float] | None:
    """The reason of a running cool-down and the seconds left of it; None when none runs."""
    cooldown = cache.get(key)
    if not isinstance(cooldown, dict):
        return None
    return cooldown["reason"], max(cooldown["until"] - time.time(), 0.0)
