"""Scheduled faults: make chosen vendor calls fail, slow down, or change the world just before they are answered.

A rule (`POST /_sandbox/faults`): {"path": regex searched in the request path, "method": optional, "status": HTTP
status to answer, "body": JSON body (default: the vendor's own error shape, from its `Vendor.fault_response`),
"headers", "delay": seconds to wait first, "times": how many matching calls it applies to (default 1; 0 = forever),
"after": matching calls to let through first}. A `delay` with no `status` slows the call and then answers
normally (a timeout if the client gives up).

An `action` changes the world just before the matching call is answered, for failures that are not an HTTP
status (tokens revoked mid-run, records edited while a sync pages). Each emulator registers its actions with
the parameters they take and their defaults (`FaultAction`); a rule names one and may give those parameters
as top-level keys, e.g. {"path": "^/crm/v8/coql", "action": "edit_records", "module": "Leads", "count": 3}.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RULE_KEYS = frozenset({"path", "method", "status", "body", "headers", "delay", "action", "times", "after"})


@dataclass
class FaultRule:
    path: str
    method: str | None = None
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the action's parameters, defaults filled in
    times: int = 1
    after: int = 0
    seen: int = 0
    fired: int = 0
    id: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def __getattr__(self, name: str) -> Any:
        # An action's parameters read like fields (rule.count), as the action's own code expects.
        params = self.__dict__.get("params") or {}
        if name in params:
            return params[name]
        raise AttributeError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "body": self.body,
            "delay": self.delay,
            "action": self.action,
            **self.params,
            "times": self.times,
            "after": self.after,
            "seen": self.seen,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class FaultAction:
    """A change to the world a rule can make: `run(rule)` is called before the matched call is answered."""

    name: str
    run: Callable[[FaultRule], None]
    params: dict[str, Any] = field(default_factory=dict)  # parameter -> default


class Faults:
    """The rules, in the order they were added; the first that applies to a call takes it."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._actions: dict[str, FaultAction] = {}
        self._lock = threading.Lock()
        self._next_id = 1

    def register(self, action: FaultAction) -> None:
        """Make an action available to rules (registering a name again replaces it: worlds are rebuilt)."""
        with self._lock:
            self._actions[action.name] = action

    @property
    def actions(self) -> dict[str, FaultAction]:
        return dict(self._actions)

    def _parameter_names(self) -> set[str]:
        return {name for action in self._actions.values() for name in action.params}

    def add(self, **spec: Any) -> FaultRule:
        allowed = RULE_KEYS | self._parameter_names()
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}; use {sorted(allowed)}")
        if not spec.get("path"):
            raise ValueError("a fault needs a 'path' regex")
        re.compile(spec["path"])
        name = spec.get("action")
        action = self._actions.get(name) if name is not None else None
        if name is not None and action is None:
            raise ValueError(f"unknown fault action {name!r}; use one of {sorted(self._actions)}")
        extra = {key: spec.pop(key) for key in list(spec) if key not in RULE_KEYS}
        if action is None and extra:
            raise ValueError(f"{sorted(extra)} are parameters of an action; name the action")
        if action is not None:
            misplaced = set(extra) - set(action.params)
            if misplaced:
                raise ValueError(f"action {name!r} takes {sorted(action.params)}, not {sorted(misplaced)}")
            extra = {**action.params, **extra}
        with self._lock:
            rule = FaultRule(**spec, params=extra, id=self._next_id)
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

    def run_action(self, rule: FaultRule) -> None:
        if rule.action:
            self._actions[rule.action].run(rule)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


def edit_records_action(
    stores: Callable[[str], list[Any]],
    change: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    name: str = "edit_records",
    kind_param: str = "kind",
    default_kind: str = "",
    default_count: int = 10,
) -> FaultAction:
    """An action that edits the first `count` records (by id) of an object type in every tenant, as if people
    edited them while a sync paged: their modified time moves past any cursor taken before, so the next pages
    must see them again. `stores(kind)` gives that type's stores (one per tenant), `change(record)` the edit;
    the rule names the type under `kind_param` (a vendor's own word for it: Zoho's "module")."""

    def run(rule: FaultRule) -> None:
        count = int(rule.params["count"])
        for store in stores(str(rule.params[kind_param])):
            victims = [record for _, record in zip(range(count), store.iter_by_id(), strict=False)]
            for record in victims:
                store.update(record["id"], change(record))

    return FaultAction(name, run, {kind_param: default_kind, "count": default_count})
