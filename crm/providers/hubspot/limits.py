"""A portal's HubSpot rate budget, shared by every process through Django's cache (Redis in production).

HubSpot counts calls per app per portal over a rolling window (100 or 190 per 10 s) and per portal per day (reset at
midnight in the portal's time zone), and says where the portal stands on every answer: X-HubSpot-RateLimit-Max,
-Remaining, -Interval-Milliseconds (and -Daily, -Daily-Remaining when not OAuth-authorized). Search has its own
limit (a few per second) and sends no such headers. Docs: docs/vendors/hubspot.md.

- The window: the last answer's Remaining is kept with the moment it was seen; it counts as free again only a whole
  interval later (the calls may have come in one burst, which a rolling window frees all at once). Background calls
  (Priority.BACKGROUND: sync, timeline, automation) wait while fewer than HUBSPOT_BACKGROUND_RESERVE of Max are
  free, so a person's call (INTERACTIVE) always finds room; they give up after HUBSPOT_BACKGROUND_WAIT_SECONDS
  (HubSpotRateLimited).
- Search: one slot of 1/HUBSPOT_SEARCH_PER_SECOND s per call, reserved atomically (a cache `add`) across workers, so
  at most N+1 searches fall in any rolling second (N=4 stays under HubSpot's 5).
- The day: a 429 DAILY blocks background calls until the portal's midnight (HubSpotConnection.limit_blocked_until,
  shown in the admin); an interactive call may still try, and the first answer that is not a 429 lifts the block.

One account holds one portal (one claim per hub_id), so the account is the key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from django.core.cache import cache
from django.db import DatabaseError, transaction

from crm import records as crm_records
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import HubSpotDailyLimit, HubSpotError, HubSpotRateLimited
from crm.providers.hubspot.tokens import connection_write
from crm.providers.hubspot.transport import ErrorInfo, RateHeaders

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

Priority = crm_records.Priority

TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
SECONDLY = "SECONDLY"  # search's own limit (its 429 names no policy: "You have reached your secondly limit.")
DEFAULT_INTERVAL_MS = 10_000
_STATE_SECONDS = 60  # how long a process trusts the database's "not blocked" answer
_DAILY_PERSIST_SECONDS = 60
_SEARCH_SLOTS_AHEAD_SECONDS = 60
TEN_SECOND_CEILING = 10.0  # HubSpot's own SDKs wait 10 s x attempt for the ten-secondly window
SECONDLY_WAIT = 1.0


@dataclass(frozen=True)
class Window:
    """The rolling window as last seen: `remaining` of `max` calls per `interval_ms`, at `at` (epoch s)."""

    remaining: int
    max: int
    interval_ms: int
    at: float

    @property
    def frees_at(self) -> float:
        """When every call counted in `remaining` has surely left the window: the calls may all have been made just
        before `at` (a burst), so nothing is counted as freed before a whole interval has passed."""
        return self.at + self.interval_ms / 1000

    def estimate(self, now: float) -> int:
        """Calls surely free now."""
        return self.max if now >= self.frees_at else self.remaining

    def seconds_until(self, wanted: int, now: float) -> float:
        """How long until at least `wanted` calls are surely free."""
        return 0.0 if self.estimate(now) >= wanted else self.frees_at - now


# --- the rolling window -------------------------------------------------------------------------------------------
def window_get(*, account: ProviderAccount) -> Window | None:
    value = cache.get(_key(account, "window"))
    if not isinstance(value, dict):
        return None
    return Window(value["remaining"], value["max"], value["interval_ms"], value["at"])


def window_record(*, account: ProviderAccount, rate: RateHeaders, now: float | None = None) -> Window | None:
    """Keep the window an answer's headers describe (every worker reads it)."""
    if not rate.window_known or not rate.max:
        return None
    interval_ms = rate.interval_ms or DEFAULT_INTERVAL_MS
    window = Window(max(int(rate.remaining or 0), 0), int(rate.max), int(interval_ms), now or time.time())
    _window_store(account, window)
    return window


def window_exhausted(*, account: ProviderAccount, rate: RateHeaders, now: float | None = None) -> Window:
    """A 429 TEN_SECONDLY_ROLLING: the window is full whatever was estimated (its Max as last known)."""
    known = window_get(account=account)
    maximum = rate.max or (known.max if known else 100)
    interval_ms = rate.interval_ms or (known.interval_ms if known else DEFAULT_INTERVAL_MS)
    window = Window(0, int(maximum), int(interval_ms), now or time.time())
    _window_store(account, window)
    return window


class Pacer:
    """Waits, and the time as the waits count it: an injected sleep (tests) that waits nothing still moves this
    clock by what it was asked to wait, so a window seen "now" frees after the waits, as it would for real."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self._sleep = sleep
        self.ahead = 0.0  # seconds the waits were asked for but did not really take

    def now(self) -> float:
        return time.time() + self.ahead

    def sleep(self, seconds: float) -> None:
        before = time.monotonic()
        self._sleep(seconds)
        self.ahead += max(seconds - (time.monotonic() - before), 0.0)


def background_wait(*, account: ProviderAccount, priority: Priority, pacer: Pacer) -> float:
    """Before a background call: wait while fewer calls than the reserve kept for people (and ours) are surely free.
    Returns the seconds waited; HubSpotRateLimited once HUBSPOT_BACKGROUND_WAIT_SECONDS would be passed. Interactive
    calls go at once."""
    if Priority(priority) == Priority.INTERACTIVE:
        return 0.0
    window = window_get(account=account)
    if window is None:
        return 0.0
    reserve = math.ceil(window.max * float(hubspot_settings.BACKGROUND_RESERVE))
    wanted = reserve + 1  # our own call must leave the reserve untouched
    waited = 0.0
    limit = float(hubspot_settings.BACKGROUND_WAIT_SECONDS)
    while True:
        delay = window.seconds_until(wanted, pacer.now())
        if delay <= 0:
            return waited
        if waited + delay > limit:
            raise HubSpotRateLimited(
                f"HubSpot's rate window for this portal is kept for people: background work waited {waited:.1f} s "
                f"(at most {limit:.0f} s) for {reserve} of {window.max} calls to stay free",
                policy=TEN_SECONDLY,
                category="BACKGROUND_RESERVE",
                retry_after=delay,
            )
        pacer.sleep(delay)
        waited += delay
        fresher = window_get(account=account)
        if fresher is not None and fresher.at > window.at:
            window = fresher  # an answer meanwhile says where the window really is


# --- a 429 --------------------------------------------------------------------------------------------------------
def rate_limited(
    *, account: ProviderAccount, info: ErrorInfo, message: str, rate: RateHeaders, attempt: int
) -> tuple[HubSpotError, float | None]:
    """What a 429 means, by the policy its body names: the error to raise, and the wait before a retry (None: do not
    retry). DAILY blocks background work until the portal's midnight; TEN_SECONDLY_ROLLING waits for the window (the
    Retry-After or the interval, at most 10 s x attempt) and tells every worker the window is full; search's secondly
    limit (no policy, category RATE_LIMITS) waits 1 s; both waits grow with each attempt."""
    kwargs = info.kwargs(429)
    policy = info.policy.upper()
    if policy == DAILY:
        wait = daily_block(account=account, message=message)
        return HubSpotDailyLimit(message, policy=policy, retry_after=wait, **kwargs), None
    said = info.retry_after
    cap = float(hubspot_settings.RETRY_MAX_SECONDS)
    if policy == TEN_SECONDLY or (not policy and rate.window_known):
        window = window_exhausted(account=account, rate=rate)
        # A Retry-After is HubSpot's own word, kept each time; without one the interval grows with each attempt
        # (HubSpot's SDK waits 10 s x attempt): a window still full after a whole one is shared with others.
        wait = said if said is not None else window.interval_ms / 1000 * (attempt + 1)
        wait = max(min(wait, TEN_SECOND_CEILING * (attempt + 1), cap), 0.1)
        return HubSpotRateLimited(message, policy=TEN_SECONDLY, retry_after=wait, **kwargs), wait
    if not policy and (info.category == "RATE_LIMITS" or "secondly" in info.message.lower()):
        wait = min(SECONDLY_WAIT * (attempt + 1), cap)
        return HubSpotRateLimited(message, policy=SECONDLY, retry_after=wait, **kwargs), wait
    wait = min(said if said is not None else SECONDLY_WAIT * (attempt + 1), cap)
    return HubSpotRateLimited(message, policy=policy, retry_after=wait, **kwargs), wait


# --- search -------------------------------------------------------------------------------------------------------
def search_slot(*, account: ProviderAccount, pacer: Pacer, at_least: float = 0.0) -> float:
    """Reserve the portal's next free search slot (1/HUBSPOT_SEARCH_PER_SECOND s wide, one call each) no sooner than
    `at_least` seconds from now (a retry's backoff), and wait for both in one wait. Returns the seconds waited."""
    per_second = max(int(hubspot_settings.SEARCH_PER_SECOND), 1)
    width = 1.0 / per_second
    now = pacer.now()
    first = int((now + at_least) / width)
    for slot in range(first, first + _SEARCH_SLOTS_AHEAD_SECONDS * per_second):
        if cache.add(f"{_key(account, 'search')}:{slot}", 1, timeout=_SEARCH_SLOTS_AHEAD_SECONDS + 5):
            delay = max(slot * width - now, at_least, 0.0)
            if delay > 0:
                pacer.sleep(delay)
            return delay
    raise HubSpotRateLimited(
        f"every search slot of the next {_SEARCH_SLOTS_AHEAD_SECONDS} s is taken for this portal",
        policy=SECONDLY,
        retry_after=float(_SEARCH_SLOTS_AHEAD_SECONDS),
    )


# --- the day ------------------------------------------------------------------------------------------------------
def daily_record(*, account: ProviderAccount, rate: RateHeaders) -> None:
    """Keep the daily allowance when an answer carried it; written to the connection at most once a minute."""
    if not rate.daily_known:
        return
    cache.set(_key(account, "daily"), {"limit": rate.daily, "remaining": rate.daily_remaining}, timeout=3600)
    if cache.add(_key(account, "daily-persisted"), 1, timeout=_DAILY_PERSIST_SECONDS):
        connection_write(
            "connection_rate_record", account, daily_limit=rate.daily, daily_remaining=rate.daily_remaining
        )


def portal_midnight(*, now: float | None = None, time_zone: str | None = None) -> float:
    """When the portal's daily allowance comes back (epoch s): the next midnight in its time zone
    (HUBSPOT_PORTAL_TIME_ZONE). Unknown: the next whole hour, since some time zone's midnight falls on it (HubSpot's
    answers do not name the portal's zone) and one refused call an hour costs far less than a day lost."""
    moment = now or time.time()
    name = time_zone if time_zone is not None else str(hubspot_settings.PORTAL_TIME_ZONE or "")
    try:
        zone = ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        return (math.floor(moment / 3600) + 1) * 3600.0
    local = datetime.fromtimestamp(moment, tz=zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


def daily_block(*, account: ProviderAccount, message: str = "", time_zone: str | None = None) -> float:
    """A 429 DAILY: background calls wait until the portal's midnight. Returns the seconds to wait."""
    now = time.time()
    until = portal_midnight(now=now, time_zone=time_zone)
    cache.set(_key(account, "blocked"), until, timeout=int(until - now) + 1)
    connection_write("connection_limit_block", account, until=datetime.fromtimestamp(until, tz=UTC), message=message)
    logger.warning("hubspot.limit.daily_blocked", account_id=account.pk, until=_iso(until))
    return until - now


def daily_blocked_until(*, account: ProviderAccount) -> float:
    """Epoch seconds until which the portal's daily allowance is used up; 0 when it is not."""
    value = cache.get(_key(account, "blocked"))
    if isinstance(value, int | float):
        return float(value)
    until = _blocked_in_database(account)
    cache.set(_key(account, "blocked"), until, timeout=_STATE_SECONDS)
    return until


def daily_check(*, account: ProviderAccount, priority: Priority) -> None:
    """Refuse a background call while the portal's daily allowance is used up (HubSpotDailyLimit)."""
    if Priority(priority) == Priority.INTERACTIVE:
        return
    now = time.time()
    until = daily_blocked_until(account=account)
    if until > now:
        raise HubSpotDailyLimit(
            f"HubSpot's daily API limit of this portal is used up; background work waits until {_iso(until)}",
            policy=DAILY,
            retry_after=until - now,
        )


def daily_unblock_if_blocked(*, account: ProviderAccount) -> None:
    """An answer that was not a 429: the portal may call again, so a daily block is lifted."""
    value = cache.get(_key(account, "blocked"))
    if not isinstance(value, int | float) or value == 0:
        return
    cache.set(_key(account, "blocked"), 0.0, timeout=_STATE_SECONDS)
    connection_write("connection_limit_clear", account)
    logger.info("hubspot.limit.daily_unblocked", account_id=account.pk)


def budget_clear(*, account: ProviderAccount) -> None:
    """Forget the portal's window, daily figures and block (tests; a reconnect to another portal)."""
    cache.delete_many([_key(account, name) for name in ("window", "daily", "daily-persisted", "blocked")])


# --- internals ------------------------------------------------------------------------------------------------
def _key(account: ProviderAccount, name: str) -> str:
    return f"hubspot:rate:{account.pk}:{name}"


def _window_store(account: ProviderAccount, window: Window) -> None:
    payload = {"remaining": window.remaining, "max": window.max, "interval_ms": window.interval_ms, "at": window.at}
    cache.set(_key(account, "window"), payload, timeout=max(int(window.interval_ms / 1000) * 2, 2))


def _blocked_in_database(account: ProviderAccount) -> float:
    try:
        from crm.providers.hubspot.models import HubSpotConnection

        with transaction.atomic():
            row = (
                HubSpotConnection.unscoped_objects.filter(account_id=account.pk)
                .values_list("limit_blocked_until", flat=True)
                .first()
            )
    except DatabaseError:
        logger.exception("hubspot.connection.read_failed", account_id=account.pk)
        return 0.0
    return row.timestamp() if row is not None else 0.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(microsecond=0).isoformat()
