"""Dataverse's service protection, kept by every worker together through Django's cache (Redis in production).

Dataverse counts per user (for Leadline: the app's application user in the environment) per web server: 6,000
requests and 20 minutes of execution time per sliding 5 minutes, and 52 requests in flight. Past a limit it answers
429 with `Retry-After`, and every request sent before that time ends lengthens the wait (docs/vendors/dynamics.md).
So:

- The block: a 429's Retry-After is written for the environment and user (`block_record`, the latest end wins);
  before each request every worker waits until it ends (`block_wait`), so no request from any worker goes before
  it. A wait longer than the caller may wait (DYNAMICS_RETRY_MAX_SECONDS, DYNAMICS_INTERACTIVE_WAIT_SECONDS for a
  person) is DataverseRateLimited with the seconds left, and the block stays for the others.
- The slots: DYNAMICS_CONCURRENCY (at most 52) request slots per environment, each a cache key taken with an atomic
  `add` for the length of one request and a TTL longer than any request (a crashed worker's slot frees itself), so
  the requests in flight from all workers never pass it. Background work leaves an eighth of them to people.

The time the waits count is a `Pacer`'s: an injected sleep (tests) that waits nothing still moves its clock.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from django.core.cache import cache

from crm import records as crm_records
from crm.providers.dynamics.conf import concurrency, dynamics_settings
from crm.providers.dynamics.errors import DataverseRateLimited

logger = structlog.get_logger(__name__)

Priority = crm_records.Priority

_SLOT_POLL_SECONDS = (0.01, 0.05)
_BLOCK_MARGIN_SECONDS = 0.05  # clocks and rounding: a wait ends a hair after the block, never before


class Pacer:
    """Waits, and the time as the waits count it: an injected sleep that waits nothing still moves this clock by
    what it was asked to wait, so a block seen "now" ends after the waits, as it would for real."""

    def __init__(self, sleep: Callable[[float], None] | None = None) -> None:
        self._sleep = sleep or time.sleep
        self.ahead = 0.0  # seconds the waits were asked for but did not really take

    def now(self) -> float:
        return time.time() + self.ahead

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        before = time.monotonic()
        self._sleep(seconds)
        self.ahead += max(seconds - (time.monotonic() - before), 0.0)


def max_wait_for(priority: Priority) -> float:
    """The longest a call of this priority waits inline for a block to end."""
    if Priority(priority) == Priority.INTERACTIVE:
        return float(dynamics_settings.INTERACTIVE_WAIT_SECONDS)
    return float(dynamics_settings.RETRY_MAX_SECONDS)


# --- the block (Retry-After) ------------------------------------------------------------------------------------
def blocked_until(*, environment: str, user: str) -> float:
    """Epoch seconds until which the environment refuses this user's requests; 0 when it does not."""
    value = cache.get(_key(environment, user, "blocked"))
    return float(value) if isinstance(value, int | float) else 0.0


def block_record(
    *, environment: str, user: str, retry_after: float, now: float | None = None, limit: str = ""
) -> float:
    """A 429 said Retry-After: no worker sends to the environment as this user before it ends (a later end than
    one already known wins). Returns the block's end (epoch s)."""
    moment = time.time() if now is None else now
    until = moment + max(float(retry_after), 0.0) + _BLOCK_MARGIN_SECONDS
    key = _key(environment, user, "blocked")
    known = blocked_until(environment=environment, user=user)
    if until > known:
        cache.set(key, until, timeout=int(until - time.time()) + 2 if until > time.time() else 2)
        logger.warning(
            "dynamics.limit.blocked", environment=environment, seconds=round(retry_after, 3), limit=limit or None
        )
    return max(until, known)


def block_clear(*, environment: str, user: str) -> None:
    cache.delete(_key(environment, user, "blocked"))


def block_shown_mark(*, environment: str, user: str, seconds: float) -> None:
    """The block was written on the connection (shown in the admin): the first call that succeeds after it clears
    it there (`block_shown_take`)."""
    cache.set(_key(environment, user, "shown"), 1, timeout=int(seconds) + 24 * 3600)


def block_shown_take(*, environment: str, user: str) -> bool:
    """Whether a block shown on the connection is to be cleared now (once: the mark is taken)."""
    key = _key(environment, user, "shown")
    if cache.get(key) is None:
        return False
    cache.delete(key)
    return True


def block_wait(*, environment: str, user: str, pacer: Pacer, max_wait: float) -> float:
    """Before a request: wait until the environment's block for this user ends. Returns the seconds waited;
    DataverseRateLimited (with the seconds left) when that is longer than `max_wait`."""
    waited = 0.0
    while True:
        until = blocked_until(environment=environment, user=user)
        delay = until - pacer.now()
        if delay <= 0:
            return waited
        if delay > max_wait:
            raise DataverseRateLimited(
                f"Dataverse's service protection blocks this environment for {delay:.1f} s more (Retry-After); "
                f"this call waits at most {max_wait:.0f} s",
                status=429,
                code="BLOCKED",
                retry_after=delay,
            )
        pacer.sleep(delay)
        waited += delay


# --- the slots (requests in flight) -----------------------------------------------------------------------------
@contextmanager
def request_slot(
    *,
    environment: str,
    pacer: Pacer,
    priority: Priority = Priority.BACKGROUND,
    wait_seconds: float | None = None,
    hold_seconds: float | None = None,
) -> Iterator[int]:
    """Hold one of the environment's DYNAMICS_CONCURRENCY request slots for one request, waiting for a free one
    (at most `wait_seconds`, DYNAMICS_CONCURRENCY_WAIT_SECONDS by default: then DataverseRateLimited). Background
    work leaves an eighth of the slots (`people_reserve`) to calls a person waits for."""
    owner = uuid.uuid4().hex
    total = concurrency()
    slots = total if Priority(priority) == Priority.INTERACTIVE else total - people_reserve(total)
    limit = float(dynamics_settings.CONCURRENCY_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    ttl = int(hold_seconds if hold_seconds is not None else sum(dynamics_settings.TIMEOUT) + 30) + 1
    started = pacer.now()
    taken = ""
    while not taken:
        for number in random.sample(range(slots), slots):
            key = _slot_key(environment, number)
            if cache.add(key, owner, timeout=ttl):
                taken = key
                break
        if taken:
            break
        if pacer.now() - started >= limit:
            raise DataverseRateLimited(
                f"all {slots} request slots of this Dataverse environment stayed busy for {limit:.0f} s",
                code="CONCURRENCY_WAIT",
                limit="concurrency",
                retry_after=1.0,
            )
        pacer.sleep(random.uniform(*_SLOT_POLL_SECONDS))  # noqa: S311 (jitter)
    try:
        yield int(taken.rsplit(":", 1)[1])
    finally:
        if cache.get(taken) == owner:
            cache.delete(taken)


def people_reserve(slots: int) -> int:
    """The slots background work leaves free for people: an eighth (2 of 16), none below 8 slots."""
    return slots // 8


def slots_in_use(*, environment: str) -> int:
    """How many of the environment's request slots are held now (tests, the admin)."""
    keys = [_slot_key(environment, number) for number in range(concurrency())]
    return len(cache.get_many(keys))


def limits_clear(*, environment: str, user: str = "") -> None:
    """Forget an environment's slots and (with `user`) its block (tests; a reconnect)."""
    cache.delete_many([_slot_key(environment, number) for number in range(52)])
    if user:
        block_clear(environment=environment, user=user)


# --- internals ------------------------------------------------------------------------------------------------
def _environment_id(environment: str) -> str:
    return hashlib.sha256(environment.rstrip("/").lower().encode()).hexdigest()[:24]


def _key(environment: str, user: str, name: str) -> str:
    user_id = hashlib.sha256(user.lower().encode()).hexdigest()[:16]
    return f"dynamics:limit:{_environment_id(environment)}:{user_id}:{name}"


def _slot_key(environment: str, number: int) -> str:
    return f"dynamics:slot:{_environment_id(environment)}:{number}"
