"""The kit's clock, rolling windows, per-key rate windows, concurrency gate and cursors."""

from datetime import UTC, datetime

from sandbox.kit import cursors
from sandbox.kit.clock import Clock
from sandbox.kit.limits import ConcurrencyGate, RateWindows, RollingWindow

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_frozen_clock_stands_still_and_moves_only_when_advanced():
    clock = Clock()
    assert clock.freeze(START) == START
    assert clock.now() == START
    assert clock.advance(90).isoformat() == "2026-03-01T09:01:30+00:00"
    assert clock.timestamp() == START.timestamp() + 90


def test_an_advanced_clock_runs_on_from_the_new_time_and_reset_brings_it_back():
    clock = Clock()
    real = datetime.now(UTC)
    clock.advance(3600)
    assert (clock.now() - real).total_seconds() >= 3600
    clock.freeze(START)
    clock.unfreeze()
    assert abs((clock.now() - real).total_seconds() - 3600) < 5
    clock.reset()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_rolling_pool_refuses_what_does_not_fit_and_spends_nothing_then():
    clock = Clock()
    clock.freeze(START)
    pool = RollingWindow(24 * 3600, now=clock.timestamp)
    assert pool.take(3, limit=5)
    assert not pool.take(3, limit=5)  # 6 > 5: refused whole
    assert pool.used() == 3
    assert pool.take(2, limit=5)
    clock.advance(3600)
    assert pool.retry_after() == 23 * 3600
    clock.advance(23 * 3600)  # the first spends leave the window exactly 24 h later
    assert pool.used() == 0
    assert pool.take(5, limit=5)


def test_limits_are_read_at_each_call():
    clock = Clock()
    clock.freeze(START)
    limit = {"value": 1}
    window = RollingWindow(60, now=clock.timestamp)
    assert window.take(limit=lambda: limit["value"])
    assert not window.take(limit=lambda: limit["value"])
    limit["value"] = 2
    assert window.take(limit=lambda: limit["value"])


def test_rate_windows_count_each_key_apart():
    clock = Clock()
    clock.freeze(START)
    windows = RateWindows(60, now=clock.timestamp)
    assert [windows.take("org-a", limit=2) for _ in range(3)] == [True, True, False]
    assert windows.take("org-b", limit=2)
    clock.advance(60)
    assert windows.take("org-a", limit=2)


def test_the_concurrency_gate_refuses_beyond_its_limit_and_frees_slots_on_exit():
    gate = ConcurrencyGate(2)
    with gate.slot() as first, gate.slot() as second, gate.slot() as third:
        assert (first, second, third) == (False, False, True)
        assert gate.in_flight == 2
    assert gate.in_flight == 0
    try:
        with gate.slot():
            raise RuntimeError("the call failed")
    except RuntimeError:
        pass
    assert gate.in_flight == 0


def test_cursors_continue_only_their_own_query_until_they_expire():
    book = cursors.CursorBook()
    binding = cursors.binding_of("lead", {"fields": "a,b", "page_token": "x"}, paging=("page_token",))
    assert binding == (("fields", "a,b"), ("$kind", "lead"))
    cursor = book.issue(kind="lead", binding=binding, offset=200, after=(1.0, 7), now=100.0, ttl=60)
    assert len(cursor.token) == 48
    assert book.check(cursor.token, binding=binding, now=159.0) is cursor
    assert book.check(cursor.token, binding=binding, now=160.0) == cursors.EXPIRED
    other = cursors.binding_of("lead", {"fields": "a"})
    assert book.check(cursor.token, binding=other, now=100.0) == cursors.MISMATCH
    assert book.check("nope", binding=binding, now=100.0) == cursors.UNKNOWN


def test_old_expired_cursors_are_forgotten_once_many_were_issued():
    book = cursors.CursorBook(keep=3)
    stale = [book.issue(kind="lead", binding=(), offset=0, after=None, now=0.0, ttl=1) for _ in range(4)]
    fresh = book.issue(kind="lead", binding=(), offset=0, after=None, now=10.0, ttl=1)
    assert list(book) == [fresh.token]
    assert all(book.check(cursor.token, binding=(), now=10.0) == cursors.UNKNOWN for cursor in stale)
