"""Fault injection: make chosen requests fail, slow down or hang, by vendor path and call number.

A rule: {"path": regex matched against the request path, "method": optional, "status": HTTP status to answer,
"body": JSON body (default: the vendor's own error shape is up to the caller), "delay": seconds to wait first,
"times": how many matching calls it applies to (default 1; 0 = forever), "after": matching calls to let through
first}. A `delay` with no `status` slows the call and then answers normally (a timeout if the client gives up).

An `action` changes the world just before the matching call is answered, for failures that are not an HTTP
status: "revoke_tokens" (every access token of every org stops working: the call itself gets 401) or
"edit_records" with `module` and `count` (that many records get a new Modified_Time, as if people edited them
while a sync pages: the next pages see them moved past the cursor).
"""

import re
import threading
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("revoke_tokens", "edit_records")


@dataclass
class FaultRule:
    path: str
    method: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: str | None = None
    module: str = "Leads"
    count: int = 10
    times: int = 1
    after: int = 0
    seen: int = 0
    fired: int = 0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "body": self.body,
            "delay": self.delay,
            "times": self.times,
            "after": self.after,
            "seen": self.seen,
            "fired": self.fired,
        }


class Faults:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, **spec: Any) -> FaultRule:
        allowed = {
            "path",
            "method",
            "status",
            "body",
            "headers",
            "delay",
            "action",
            "module",
            "count",
            "times",
            "after",
        }
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}; use {sorted(allowed)}")
        if not spec.get("path"):
            raise ValueError("a fault needs a 'path' regex")
        if spec.get("action") not in (None, *ACTIONS):
            raise ValueError(f"unknown fault action {spec['action']!r}; use one of {list(ACTIONS)}")
        re.compile(spec["path"])
        with self._lock:
            rule = FaultRule(**spec, id=self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that applies to this call, counting it; None to let the call through."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.times and rule.fired >= rule.times:
                    continue
                rule.fired += 1
                return rule
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
