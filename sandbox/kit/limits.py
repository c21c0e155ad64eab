"""Per-tenant limits every CRM has in some form, on the emulator's clock.

- `RollingWindow`: amounts spent within the last `seconds` (a daily credit pool: Zoho's 24 h API credits,
  Salesforce's daily API requests; a rate window: N calls per 10 s, downloads per minute). Weighted: a call may
  cost more than 1.
- `RateWindows`: one `RollingWindow` per key (per token, per client, per org).
- `ConcurrencyGate`: calls in flight, refused beyond a limit (Zoho's per-org concurrency, Dataverse's 52).

Limits are read at each call (callables), so `PATCH /_sandbox/config` takes effect at once. The vendor decides
how a refusal looks (its 429 or 403 body); these only count.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Limit = int | float | Callable[[], int | float]


def _value(limit: Limit) -> float:
    return float(limit() if callable(limit) else limit)


class RollingWindow:
    """Amounts spent in the last `seconds` of `now()`; `take` spends only if the whole amount fits."""

    def __init__(self, seconds: float, *, now: Callable[[], float]) -> None:
        self.seconds = seconds
        self._now = now
        self._log: deque[tuple[float, float]] = deque()  # (timestamp, amount), oldest first
        self._lock = threading.Lock()

    def _forget(self, now: float) -> None:
        horizon = now - self.seconds
        while self._log and self._log[0][0] <= horizon:
            self._log.popleft()

    def used(self) -> float:
        with self._lock:
            self._forget(self._now())
            return sum(amount for _, amount in self._log)

    def take(self, amount: float = 1, *, limit: Limit) -> bool:
        """Spend `amount`; False (and nothing spent) when it would go past `limit` within the window."""
        with self._lock:
            now = self._now()
            self._forget(now)
            if sum(spent for _, spent in self._log) + amount > _value(limit):
                return False
            self._log.append((now, amount))
            return True

    def retry_after(self) -> float:
        """Seconds until the oldest spend leaves the window (what a Retry-After header would say)."""
        with self._lock:
            now = self._now()
            self._forget(now)
            return max(0.0, self._log[0][0] + self.seconds - now) if self._log else 0.0

    def clear(self) -> None:
        with self._lock:
            self._log.clear()


class RateWindows:
    """A rolling window per key, made on first use."""

    def __init__(self, seconds: float, *, now: Callable[[], float]) -> None:
        self.seconds = seconds
        self._now = now
        self._windows: dict[str, RollingWindow] = {}
        self._lock = threading.Lock()

    def window(self, key: str) -> RollingWindow:
        with self._lock:
            found = self._windows.get(key)
            if found is None:
                found = self._windows[key] = RollingWindow(self.seconds, now=self._now)
            return found

    def take(self, key: str, amount: float = 1, *, limit: Limit) -> bool:
        return self.window(key).take(amount, limit=limit)


class ConcurrencyGate:
    """Calls in flight; `slot()` yields True when the call is refused (the limit is reached), else holds a slot."""

    def __init__(self, limit: Limit) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self.in_flight = 0

    @property
    def limit(self) -> int:
        return int(_value(self._limit))

    def enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @contextmanager
    def slot(self) -> Iterator[bool]:
        if not self.enter():
            yield True
            return
        try:
            yield False
        finally:
            self.leave()
