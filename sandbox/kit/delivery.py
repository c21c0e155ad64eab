"""Calls an emulator makes to the product (webhooks, change notifications, job callbacks), recorded in the outbox
(`/_sandbox/outbox`) so tests and the people page can see what was sent and what came back."""

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

DELIVERY_TIMEOUT = (5, 15)  # Twilio: 15 s in all per webhook request (docs/vendors/twilio.md, Timeouts and retries)


@dataclass
class Delivery:
    kind: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    status: int | None = None
    response_text: str = ""
    error: str | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "response_text": self.response_text[:2000],
            "error": self.error,
            "at": self.at,
        }


class Outbox:
    """Sends and remembers deliveries (the newest 2,000)."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self._items: deque[Delivery] = deque(maxlen=2000)
        self._lock = threading.Lock()
        self._session_factory = (lambda: _Borrowed(session)) if session is not None else requests.Session

    def send(
        self,
        *,
        kind: str,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        data: dict[str, Any] | list[tuple[str, str]] | None = None,
        json: Any = None,
        timeout: tuple[float, float] = DELIVERY_TIMEOUT,
    ) -> Delivery:
        delivery = Delivery(
            kind=kind, method=method, url=url, headers=dict(headers or {}), body=json if json is not None else data
        )
        try:
            # One connection per callback, as the vendors make them: a kept-alive socket would pin one of the
            # product's request threads (and its database connection) for as long as this sandbox lives.
            with self._session_factory() as session:
                response = session.request(method, url, headers=headers, data=data, json=json, timeout=timeout)
            delivery.status = response.status_code
            delivery.response_text = response.text
        except requests.RequestException as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._items.append(delivery)
        return delivery

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [d.as_dict() for d in self._items if kind is None or d.kind == kind]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class BackgroundSender:
    """A single thread that delivers asynchronous callbacks in order, as a vendor would, after a request ends."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._queue: deque[dict[str, Any]] = deque()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._in_flight = 0

    @property
    def stopped(self) -> bool:
        return self._stopped

    def submit(self, **delivery: Any) -> None:
        """Queue a delivery (Outbox.send's arguments); an optional `on_done(Delivery)` is called once it was sent."""
        with self._condition:
            self._queue.append(delivery)
            self._condition.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-callbacks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopped:
                    self._condition.wait()
                if self._stopped:
                    return
                delivery = self._queue.popleft()
                self._in_flight += 1
            try:
                on_done = delivery.pop("on_done", None)
                sent = self._outbox.send(**delivery)
                if on_done is not None:
                    on_done(sent)
            finally:
                with self._condition:
                    self._in_flight -= 1

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued callback was sent (tests)."""
        deadline = datetime.now(UTC).timestamp() + timeout
        while datetime.now(UTC).timestamp() < deadline:
            with self._condition:
                if not self._queue and not self._in_flight:
                    return True
            threading.Event().wait(0.02)
        return False

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()


class _Borrowed:
    """A caller's session used as a context manager without closing it."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def __enter__(self) -> requests.Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        return None
