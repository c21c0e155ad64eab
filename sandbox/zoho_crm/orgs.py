"""Zoho CRM orgs: their users, modules (one RecordStore each), the API-credit pool and concurrency.

CONTRACT used by every CRM endpoint (api.py, coql.py, bulk.py, notifications.py):

    org_or_error = sandbox.crm.authenticate(request, scope="ZohoCRM.modules.READ")
    if isinstance(org_or_error, Response): return org_or_error      # 401 in Zoho's shape
    org, user = org_or_error
    with org.calling() as refused:                                  # concurrency cap
        if refused: return refused                                   # 429 TOO_MANY_REQUESTS
        refused = org.charge(credits)                                # rolling 24 h credit pool
        if refused: return refused
        ...

The details (scope matching, the exact 401 bodies, credit and concurrency numbers) are refined by the CRM helper.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import zoho_error
from sandbox.zoho_crm.store import IdSequence, RecordStore, fixed_offset

if TYPE_CHECKING:
    from sandbox.state import SandboxState


@dataclass
class ZohoOrg:
    org_id: str
    name: str
    sandbox: SandboxState
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> Zoho user JSON
    modules: dict[str, RecordStore] = field(default_factory=dict)  # api name -> store
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # api name -> field metadata list
    ids: IdSequence = field(default_factory=IdSequence)
    credit_log: deque = field(default_factory=deque)  # (timestamp, credits) within the rolling 24 h
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tz(self):
        return fixed_offset(self.sandbox.config.org_utc_offset_hours)

    def module(self, api_name: str) -> RecordStore | None:
        return self.modules.get(api_name)

    def add_module(self, api_name: str, fields_metadata: list[dict[str, Any]]) -> RecordStore:
        store = RecordStore(api_name, ids=self.ids, tz=self.tz, now=self.sandbox.clock.now)
        # Every change reaches notification channels and workflow rules (they decide whether it concerns them).
        store.listeners.append(lambda event: self.sandbox.crm.on_record_change(self, event))
        self.modules[api_name] = store
        self.fields[api_name] = fields_metadata
        return store

    def credits_used(self) -> int:
        horizon = self.sandbox.clock.timestamp() - 24 * 3600
        while self.credit_log and self.credit_log[0][0] < horizon:
            self.credit_log.popleft()
        return sum(credits for _, credits in self.credit_log)

    def charge(self, credits: int) -> Response | None:
        """Spend credits from the rolling 24 h pool; a 429 when the pool cannot cover the call."""
        with self.lock:
            if self.credits_used() + credits > self.sandbox.config.api_credits_per_day:
                return zoho_error(
                    "TOO_MANY_REQUESTS",
                    "API credits exhausted for the last 24 hours",
                    status=429,
                    details={"credits_limit": self.sandbox.config.api_credits_per_day},
                )
            self.credit_log.append((self.sandbox.clock.timestamp(), credits))
            self.sandbox.counters[f"credits:{self.org_id}"] += credits
        return None

    @contextmanager
    def calling(self) -> Iterator[Response | None]:
        """Count a call in flight; yields a 429 instead when the org's concurrency limit is reached."""
        with self.lock:
            refused = self.in_flight >= self.sandbox.config.concurrency_limit
            if not refused:
                self.in_flight += 1
        if refused:
            yield zoho_error(
                "TOO_MANY_REQUESTS",
                "Too many concurrent requests",
                status=429,
                details={"concurrency_limit": self.sandbox.config.concurrency_limit},
            )
            return
        try:
            yield None
        finally:
            with self.lock:
                self.in_flight -= 1


class CrmState:
    def __init__(self, sandbox: SandboxState) -> None:
        from sandbox.zoho_crm.bulk import BulkState
        from sandbox.zoho_crm.notifications import WatchState
        from sandbox.zoho_crm.workflows import WorkflowState

        self.sandbox = sandbox
        self.orgs: dict[str, ZohoOrg] = {}
        self.bulk = BulkState(sandbox)
        self.watch = WatchState(sandbox)
        self.workflows = WorkflowState(sandbox)

    def on_record_change(self, org: ZohoOrg, event) -> None:
        self.watch.handle(org, event)
        self.workflows.handle(org, event)

    def seed_world(self, name: str, *, seed: int, leads: int) -> None:
        from sandbox import worlds

        org = ZohoOrg(worlds.DEMO_ZOHO_ORG_ID, worlds.DEMO_ZOHO_ORG_NAME, self.sandbox)
        self.orgs[org.org_id] = org

    def authenticate(self, request: Request, *, scope: str | None = None) -> tuple[ZohoOrg, dict] | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Zoho-oauthtoken" or not token:
            return zoho_error("AUTHENTICATION_FAILURE", "Authentication failed", status=401)
        resolved = self.sandbox.accounts.resolve(token.strip())
        if isinstance(resolved, str):
            return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
        org = self.orgs.get(resolved.org_id)
        if org is None:
            return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
        return org, org.users.get(resolved.user_id, {"id": resolved.user_id})
