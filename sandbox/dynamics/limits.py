"""Dataverse's service protection limits, per environment and calling user (docs/vendors/dynamics.md, Limits).

The Web API's dispatch (calls.dv_endpoint) calls `request_admit(call)` before a request (a 429 Response to send,
or None to go on) and `request_done(call, elapsed_ms, response)` after an admitted one, whatever it answered;
`request_done` adds the debug headers to the answer. For each user (the token's system
user: a person, or an application user) three limits apply, read from the sandbox's config at each call:

- requests within a sliding window (`dv_requests_per_window` per `dv_window_seconds`): 429 0x80072322;
- combined execution time within the window (`dv_execution_ms_per_window`): 429 0x80072321. A request counts its
  real time plus `dv_request_ms` and a per-row share of it (`dv_request_ms / 100` per row returned or written),
  so tests reach the limit without slow requests;
- requests in flight (`dv_concurrent_requests`): the next one is refused at once, 429 0x80072326.

Every 429 carries `Retry-After` (whole seconds) and blocks the user until it ends: the first wait is
`dv_retry_after_seconds` (or longer, when the window frees a slot only later), and a request the user sends
before the wait ends is refused again and multiplies the wait by `dv_retry_after_growth` (the docs: "continuing to
send requests ... extends the duration"; the factor is UNCONFIRMED). Waits run on the sandbox clock.

Counters per user feed the control API (`GET /_sandbox/dynamics/environments/<env>/limits`) so a test can prove
a client never exceeded the concurrency, never sent while blocked, and honoured each Retry-After."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from sandbox.dynamics.calls import CONCURRENCY_EXCEEDED, EXECUTION_TIME_EXCEEDED, REQUESTS_EXCEEDED, dv_error
from sandbox.kit.limits import RollingWindow

if TYPE_CHECKING:
    from sandbox.dynamics.calls import Call
    from sandbox.dynamics.state_env import Environment

BURST_HEADER = "x-ms-ratelimit-burst-remaining-xrm-requests"
TIME_HEADER = "x-ms-ratelimit-time-remaining-xrm-requests"
ROW_SHARE = 0.01  # of dv_request_ms, per row a request returned or wrote
RETRY_AFTERS_KEPT = 1000


@dataclass
class UserLimits:
    """One user's windows, block and counters in one environment."""

    requests: RollingWindow
    execution: RollingWindow
    in_flight: int = 0
    blocked_until: float = 0.0  # sandbox clock, epoch seconds
    wait_seconds: float = 0.0  # the current block's Retry-After (grows while the user keeps sending)
    blocked_code: tuple[str, str] = REQUESTS_EXCEEDED
    counters: dict[str, Any] = field(
        default_factory=lambda: {
            "requests": 0,  # admitted
            "max_in_flight": 0,
            "refused": 0,  # every 429
            "refused_requests": 0,
            "refused_execution_time": 0,
            "refused_concurrency": 0,
            "sent_while_blocked": 0,  # requests that arrived before the Retry-After of an earlier 429 ended
            "retry_after": [],  # every Retry-After sent, in order
            "execution_ms": 0.0,
        }
    )


class ServiceProtection:
    """Every user's limits in one environment (kept in `environment.extra["limits"]`)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.users: dict[str, UserLimits] = {}
        self.lock = threading.Lock()

    @property
    def sandbox(self) -> Any:
        return self.environment.dynamics.sandbox

    def now(self) -> float:
        return self.sandbox.clock.timestamp()

    def user(self, user_id: str) -> UserLimits:
        key = (user_id or "").lower()
        found = self.users.get(key)
        if found is None:
            seconds = float(self.sandbox.config.dv_window_seconds)
            found = self.users[key] = UserLimits(
                RollingWindow(seconds, now=self.now), RollingWindow(seconds, now=self.now)
            )
        return found

    # --- one request ----------------------------------------------------------------------------------------
    def admit(self, user_id: str) -> Response | None:
        config = self.sandbox.config
        with self.lock:
            limits = self.user(user_id)
            now = self.now()
            if now < limits.blocked_until:
                limits.counters["sent_while_blocked"] += 1
                limits.wait_seconds = max(1.0, limits.wait_seconds * float(config.dv_retry_after_growth))
                return self._refuse(limits, limits.blocked_code, limits.wait_seconds, now, kind=None)
            limits.requests.seconds = limits.execution.seconds = float(config.dv_window_seconds)
            if limits.in_flight >= int(config.dv_concurrent_requests):
                return self._refuse(
                    limits, CONCURRENCY_EXCEEDED, config.dv_retry_after_seconds, now, kind="refused_concurrency"
                )
            if limits.execution.used() >= float(config.dv_execution_ms_per_window):
                wait = max(float(config.dv_retry_after_seconds), limits.execution.retry_after())
                return self._refuse(limits, EXECUTION_TIME_EXCEEDED, wait, now, kind="refused_execution_time")
            if not limits.requests.take(1, limit=config.dv_requests_per_window):
                wait = max(float(config.dv_retry_after_seconds), limits.requests.retry_after())
                return self._refuse(limits, REQUESTS_EXCEEDED, wait, now, kind="refused_requests")
            limits.in_flight += 1
            limits.counters["requests"] += 1
            limits.counters["max_in_flight"] = max(limits.counters["max_in_flight"], limits.in_flight)
            return None

    def done(self, user_id: str, *, elapsed_ms: float = 0.0, rows: int = 0) -> dict[str, str]:
        config = self.sandbox.config
        cost = float(elapsed_ms) + float(config.dv_request_ms) * (1 + ROW_SHARE * max(0, rows))
        with self.lock:
            limits = self.user(user_id)
            limits.in_flight = max(0, limits.in_flight - 1)
            limits.execution.take(cost, limit=math.inf)
            limits.counters["execution_ms"] += cost
            return self._debug_headers(limits)

    def _refuse(
        self, limits: UserLimits, code: tuple[str, str], wait: float, now: float, *, kind: str | None
    ) -> Response:
        config = self.sandbox.config
        seconds = max(1, math.ceil(wait))
        limits.wait_seconds = float(seconds)
        limits.blocked_until = now + seconds
        limits.blocked_code = code
        limits.counters["refused"] += 1
        if kind:
            limits.counters[kind] += 1
        limits.counters["retry_after"].append(seconds)
        del limits.counters["retry_after"][:-RETRY_AFTERS_KEPT]
        hex_code, template = code
        message = template.format(
            limit={
                REQUESTS_EXCEEDED: config.dv_requests_per_window,
                EXECUTION_TIME_EXCEEDED: config.dv_execution_ms_per_window,
                CONCURRENCY_EXCEEDED: config.dv_concurrent_requests,
            }[code],
            window=config.dv_window_seconds,
        )
        headers = {"Retry-After": str(seconds), **self._debug_headers(limits)}
        return dv_error(429, hex_code, message, headers=headers)

    def _debug_headers(self, limits: UserLimits) -> dict[str, str]:
        config = self.sandbox.config
        burst = max(0, int(config.dv_requests_per_window - limits.requests.used()))
        seconds_left = max(0.0, (float(config.dv_execution_ms_per_window) - limits.execution.used()) / 1000)
        return {BURST_HEADER: str(burst), TIME_HEADER: f"{seconds_left:.2f}"}

    # --- control API ----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            return {
                user_id: {
                    **{
                        key: (list(value) if isinstance(value, list) else value)
                        for key, value in limits.counters.items()
                    },
                    "in_flight": limits.in_flight,
                    "window_requests": int(limits.requests.used()),
                    "window_execution_ms": round(limits.execution.used(), 3),
                    "blocked_for_seconds": round(max(0.0, limits.blocked_until - now), 3),
                }
                for user_id, limits in self.users.items()
            }

    def reset(self) -> None:
        """Forget every window, block and counter (requests in flight stay counted until they end)."""
        with self.lock:
            for user_id, old in list(self.users.items()):
                del self.users[user_id]
                if old.in_flight:
                    self.user(user_id).in_flight = old.in_flight


def protection(environment: Environment) -> ServiceProtection:
    with environment.lock:
        found = environment.extra.get("limits")
        if found is None:
            found = environment.extra["limits"] = ServiceProtection(environment)
        return found


def request_admit(call: Call) -> Response | None:
    """calls.dv_endpoint asks before each Web API call: None when it may run (it then counts as in flight until
    `request_done`), else the 429 to answer."""
    return protection(call.environment).admit(call.user_id)


def request_done(call: Call, elapsed_ms: float, response: Response | None) -> None:
    """calls.dv_endpoint tells after each admitted call: its execution time counts (plus the rows a handler noted
    in `call.rows`), and the answer gets the debug headers."""
    rows = int(getattr(call, "rows", 0) or 0)
    headers = protection(call.environment).done(call.user_id, elapsed_ms=elapsed_ms, rows=rows)
    if response is not None:
        for name, value in headers.items():
            response.headers[name] = value


def limits_summary(environment: Environment) -> dict[str, Any]:
    return protection(environment).summary()


def limits_reset(environment: Environment) -> None:
    protection(environment).reset()
