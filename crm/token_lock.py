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
