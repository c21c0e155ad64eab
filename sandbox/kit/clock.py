"""A clock the control API can move (`/_sandbox/clock`): token expiry, job progress, cursor and channel expiry
follow it; tests freeze it to make timestamps tie on purpose."""

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta()
        self._frozen: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            return base + self._offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def freeze(self, at: datetime | None = None) -> datetime:
        with self._lock:
            self._frozen = (at or datetime.now(UTC)) - self._offset
        return self.now()

    def unfreeze(self) -> None:
        with self._lock:
            self._frozen = None

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()
            self._frozen = None
