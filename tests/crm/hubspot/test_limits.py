"""A portal's HubSpot rate budget: the window estimate and the reserve kept for people, the search slots shared by
workers, what each 429 policy means, and the daily block to the portal's midnight."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from crm.providers.hubspot import limits
from crm.providers.hubspot.errors import HubSpotDailyLimit, HubSpotRateLimited
from crm.providers.hubspot.transport import ErrorInfo, RateHeaders, rate_headers
from crm.records import Priority
from tests.crm.harness import SleepRecorder
from tests.crm.hubspot.test_client_fakes import clean_cache_fixture, hs_account_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def info(policy: str = "", category: str = "", message: str = "", retry_after: float | None = None) -> ErrorInfo:
    return ErrorInfo(category, message, (), {}, policy, "", {}, retry_after)


def test_rate_headers_are_read_whatever_their_case():
    rate = rate_headers(
        {
            "x-hubspot-ratelimit-max": "190",
            "x-hubspot-ratelimit-remaining": "12",
            "x-hubspot-ratelimit-interval-milliseconds": "10000",
            "x-hubspot-ratelimit-daily": "625000",
            "x-hubspot-ratelimit-daily-remaining": "600000",
        }
    )
    assert rate == RateHeaders(190, 12, 10_000, 625_000, 600_000)
    assert rate.window_known
    assert rate.daily_known
    assert not rate_headers({}).window_known


def test_the_window_counts_as_free_only_a_whole_interval_later():
    """A rolling window frees a burst all at once, an interval after it: nothing is counted free before that."""
    window = limits.Window(remaining=3, max=100, interval_ms=10_000, at=1000.0)
    assert window.estimate(1000.0) == 3
    assert window.estimate(1009.9) == 3
    assert window.estimate(1010.0) == 100
    assert window.seconds_until(21, 1004.0) == pytest.approx(6.0)
    assert window.seconds_until(3, 1004.0) == 0


def test_background_waits_for_the_reserve_people_do_not(hs_account):
    sleeps = SleepRecorder()
    limits.window_record(account=hs_account, rate=RateHeaders(100, 10, 10_000))
    assert limits.background_wait(account=hs_account, priority=Priority.INTERACTIVE, pacer=limits.Pacer(sleeps)) == 0
    waited = limits.background_wait(account=hs_account, priority=Priority.BACKGROUND, pacer=limits.Pacer(sleeps))
    assert 9.5 < waited <= 10.0  # 10 left, 21 wanted (the 20% reserve and our call): the window must free
    assert sleeps.waits == [waited]


def test_background_goes_when_the_window_has_room(hs_account):
    sleeps = SleepRecorder()
    limits.window_record(account=hs_account, rate=RateHeaders(100, 80, 10_000))
    assert limits.background_wait(account=hs_account, priority=Priority.BACKGROUND, pacer=limits.Pacer(sleeps)) == 0
    assert sleeps.waits == []


def test_search_slots_are_shared_and_spaced(hs_account, settings):
    settings.HUBSPOT_SEARCH_PER_SECOND = 4
    start = (int(time.time() * 4) + 40) / 4  # the start of a slot, ahead of the clock

    def worker() -> limits.Pacer:
        pacer = limits.Pacer(SleepRecorder())
        pacer.ahead = start - time.time()
        return pacer

    # Six workers at one moment: slots 0.25 s wide, one search each, so at most N+1 fall in any rolling second and
    # 4/s stays under HubSpot's 5.
    waits = [limits.search_slot(account=hs_account, pacer=worker()) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25], abs=0.01)
    # One worker searching in a row waits a slot each time.
    alone = worker()
    alone_waits = [limits.search_slot(account=hs_account, pacer=alone) for _ in range(3)]
    assert alone_waits == pytest.approx([1.5, 0.25, 0.25], abs=0.01)


def test_ten_secondly_429_fills_the_window_for_every_worker(hs_account):
    error, wait = limits.rate_limited(
        account=hs_account, info=info("TEN_SECONDLY_ROLLING"), message="m", rate=RateHeaders(100, 0, 10_000), attempt=0
    )
    assert isinstance(error, HubSpotRateLimited)
    assert wait == 10.0
    assert limits.window_get(account=hs_account).remaining == 0
    _, later = limits.rate_limited(
        account=hs_account,
        info=info("TEN_SECONDLY_ROLLING", retry_after=25),
        message="m",
        rate=RateHeaders(),
        attempt=1,
    )
    assert later == 20.0  # Retry-After, capped at 10 s x attempt


def test_search_secondly_429_waits_one_second(hs_account):
    error, wait = limits.rate_limited(
        account=hs_account,
        info=info(category="RATE_LIMITS", message="You have reached your secondly limit."),
        message="m",
        rate=RateHeaders(),
        attempt=0,
    )
    assert wait == 1.0
    assert error.policy == "SECONDLY"


def test_daily_429_blocks_background_until_the_portals_midnight(hs_account, settings):
    from crm.providers.hubspot.models import HubSpotConnection

    settings.HUBSPOT_PORTAL_TIME_ZONE = "America/New_York"
    error, wait = limits.rate_limited(
        account=hs_account, info=info("DAILY"), message="daily", rate=RateHeaders(), attempt=0
    )
    assert isinstance(error, HubSpotDailyLimit)
    assert wait is None  # never retried
    until = datetime.fromtimestamp(limits.daily_blocked_until(account=hs_account), tz=UTC)
    assert until.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).hour == 0
    assert HubSpotConnection.unscoped_objects.get(account=hs_account).limit_blocked_until == until
    with pytest.raises(HubSpotDailyLimit):
        limits.daily_check(account=hs_account, priority=Priority.BACKGROUND)
    limits.daily_check(account=hs_account, priority=Priority.INTERACTIVE)
    limits.daily_unblock_if_blocked(account=hs_account)
    limits.daily_check(account=hs_account, priority=Priority.BACKGROUND)
    assert HubSpotConnection.unscoped_objects.get(account=hs_account).limit_blocked_until is None


def test_portal_midnight():
    noon_utc = datetime(2026, 12, 7, 12, 20, tzinfo=UTC).timestamp()
    assert limits.portal_midnight(now=noon_utc, time_zone="UTC") == datetime(2026, 12, 8, tzinfo=UTC).timestamp()
    eastern = datetime(2026, 12, 8, 5, tzinfo=UTC).timestamp()  # midnight in New York
    assert limits.portal_midnight(now=noon_utc, time_zone="America/New_York") == eastern
    # Unknown: the next whole hour (some zone's midnight).
    next_hour = datetime(2026, 12, 7, 13, tzinfo=UTC).timestamp()
    assert limits.portal_midnight(now=noon_utc, time_zone="") == next_hour
    assert limits.portal_midnight(now=noon_utc, time_zone="Nowhere/Unknown") == next_hour


def test_the_daily_allowance_is_written_to_the_connection_now_and_then(hs_account):
    from crm.providers.hubspot.models import HubSpotConnection

    limits.daily_record(account=hs_account, rate=RateHeaders(daily=250_000, daily_remaining=1000))
    limits.daily_record(account=hs_account, rate=RateHeaders(daily=250_000, daily_remaining=999))
    connection = HubSpotConnection.unscoped_objects.get(account=hs_account)
    assert (connection.daily_limit, connection.daily_remaining) == (250_000, 1000)  # the second waits a minute
