"""One emulated Salesforce org (`SfOrg`): its users, schema and record stores, the Recycle Bin and delete log,
the daily request allocation and long-running requests, and its sessions."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.kit.cursors import CursorBook
from sandbox.kit.limits import RollingWindow
from sandbox.kit.store import ChangeEvent
from sandbox.salesforce import ids
from sandbox.salesforce.schema import SobjectSchema, build_schemas
from sandbox.salesforce.state_auth import ConnectedApp, Grant, Session
from sandbox.salesforce.state_records import SfRecordStore, format_sf_datetime, parse_sf_datetime, user_summary

if TYPE_CHECKING:
    from sandbox.state import SandboxState

DAY_SECONDS = 24 * 3600


class SfOrg:
    def __init__(
        self,
        sandbox: SandboxState,
        *,
        org_id: str,
        name: str,
        org_tag: str,
        app: ConnectedApp,
        my_domain: str,
        instance_url: str | None = None,
        is_sandbox: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.org_id = org_id
        self.name = name
        self.my_domain = my_domain
        self.instance_url = instance_url
        self.is_sandbox = is_sandbox
        self.app = app
        self.ids = ids.OrgIds(org_tag)
        self.schema: dict[str, SobjectSchema] = build_schemas()
        self.stores: dict[str, SfRecordStore] = {}
        for sobject in self.schema:
            store = SfRecordStore(sobject, org=self)
            store.listeners.append(lambda event, org=self: sandbox.salesforce.on_record_change(org, event))
            self.stores[sobject] = store
        self.admin_user_id = ""
        self.grants: dict[str, Grant] = {}
        self.sessions: dict[str, Session] = {}
        self.locators = CursorBook()
        self.daily = RollingWindow(DAY_SECONDS, now=sandbox.clock.timestamp)
        self.in_flight: dict[int, float] = {}  # call number -> time.monotonic() at its start (long requests)
        self._calls = 0
        self._flight_lock = threading.Lock()
        self.bulk_jobs: dict[str, Any] = {}
        self.deleted_log: dict[str, list[dict[str, Any]]] = {sobject: [] for sobject in self.schema}
        self.earliest_deleted_available: datetime | None = None
        self.callout_url: str | None = None
        # Run-time overrides (PATCH /_sandbox/salesforce/orgs/<id>); None falls back to the sandbox config.
        self.daily_api_requests: int | None = None
        self.long_requests_max: int | None = None
        self.callout_retries = 2  # UNCONFIRMED: how often a failed Flow callout is tried again
        self.callout_retry_seconds = 1.0
        self.slow_seconds = 0.0  # every data call takes this long (plays long-running requests)
        # sObject -> its active validation rules (validation.ValidationRule), set by the control API.
        self.validation_rules: dict[str, list[Any]] = {}

    # --- users ---------------------------------------------------------------------------------------------
    @property
    def users(self) -> dict[str, dict[str, Any]]:
        return self.stores["User"].records

    def user(self, user_id: str | None) -> dict[str, Any] | None:
        normalized = ids.normalize(user_id)
        return self.users.get(normalized) if normalized else None

    @property
    def admin(self) -> dict[str, Any]:
        return self.users[self.admin_user_id]

    # --- records -------------------------------------------------------------------------------------------
    def store(self, sobject: str) -> SfRecordStore | None:
        """An sObject's store by name, compared case-insensitively (as the API's URLs do)."""
        found = self.stores.get(sobject)
        if found is not None:
            return found
        for name, candidate in self.stores.items():
            if name.lower() == (sobject or "").lower():
                return candidate
        return None

    def now(self) -> datetime:
        return self.sandbox.clock.now()

    def delete_record(self, sobject: str, record_id: str, *, at: datetime | None = None, client: str | None = None):
        """Move a record to the Recycle Bin: IsDeleted true, SystemModstamp now, an entry in the delete log."""
        store = self.stores[sobject]
        with store.lock:
            record = store.update(record_id, {"IsDeleted": True}, at=at, client=client, notify=False)
            self.deleted_log[sobject].append({"id": record["Id"], "deletedDate": record["SystemModstamp"]})
        store._emit(ChangeEvent(sobject, "delete", [record["Id"]]))
        return record

    def purge_deleted(self, before: datetime) -> int:
        """Empty the Recycle Bin and the delete log up to `before`: those rows are gone for queryAll and
        getDeleted, and getDeleted's earliestDateAvailable becomes `before`. Returns how many rows went."""
        purged = 0
        for sobject, log in self.deleted_log.items():
            store = self.stores[sobject]
            kept = []
            for entry in log:
                if parse_sf_datetime(entry["deletedDate"]) < before:
                    record = store.get(entry["id"])
                    if record is not None and record.get("IsDeleted"):
                        store.delete(entry["id"], notify=False)
                        purged += 1
                else:
                    kept.append(entry)
            log[:] = kept
            store.deleted.clear()
        if self.earliest_deleted_available is None or before > self.earliest_deleted_available:
            self.earliest_deleted_available = before
        return purged

    def tally_written(self, count: int) -> None:
        """Count records the data API wrote (created, updated, upserted, deleted; refused or rolled-back ones
        not): the kit counter `salesforce.records_written:<org id>`, which tests compare with the fewest writes
        needed."""
        if count:
            self.sandbox.counters[f"salesforce.records_written:{self.org_id}"] += count

    # --- limits --------------------------------------------------------------------------------------------
    @property
    def daily_limit(self) -> int:
        return self.daily_api_requests or self.sandbox.config.sf_daily_api_requests

    @property
    def long_limit(self) -> int:
        return self.long_requests_max or self.sandbox.config.sf_long_requests_max

    def api_usage(self) -> int:
        return int(self.daily.used())

    def set_api_usage(self, used: int) -> None:
        """Pretend `used` requests were made in the last 24 hours (the control API)."""
        self.daily.clear()
        if used > 0:
            self.daily.take(used, limit=float("inf"))

    def limit_info(self) -> str:
        """The Sforce-Limit-Info header's value."""
        return f"api-usage={self.api_usage()}/{self.daily_limit}"

    def spend(self, amount: int = 1) -> bool:
        """Count calls against the 24 h allocation; False (nothing spent) when it is used up."""
        if not self.daily.take(amount, limit=self.daily_limit):
            return False
        self.sandbox.counters[f"salesforce.api_requests:{self.org_id}"] += amount
        return True

    def enter_call(self) -> int | None:
        """Start a call; None when `long_limit` calls have already been running for sf_long_request_seconds
        (the concurrent long-running request limit: shorter calls are never refused)."""
        threshold = self.sandbox.config.sf_long_request_seconds
        with self._flight_lock:
            now = time.monotonic()
            long_running = sum(1 for started in self.in_flight.values() if now - started >= threshold)
            if long_running >= self.long_limit:
                return None
            self._calls += 1
            self.in_flight[self._calls] = now
            return self._calls

    def leave_call(self, number: int) -> None:
        with self._flight_lock:
            self.in_flight.pop(number, None)

    # --- sessions ------------------------------------------------------------------------------------------
    @property
    def rotation(self) -> bool:
        return self.sandbox.config.sf_refresh_token_rotation if self.app.rotation is None else self.app.rotation

    def end_sessions(self, *, grant_id: str | None = None, reason: str) -> int:
        """End the org's sessions (those of one grant when given). Returns how many were alive."""
        ended = 0
        for session in self.sessions.values():
            if session.alive and (grant_id is None or session.grant_id == grant_id):
                session.alive = False
                session.ended_reason = reason
                ended += 1
        return ended

    def as_dict(self, base_url: str | None = None) -> dict[str, Any]:
        """What the control API shows of an org."""
        return {
            "org_id": self.org_id,
            "name": self.name,
            "my_domain": self.my_domain,
            "instance_url": self.instance_url or base_url,
            "login_url": base_url,
            "is_sandbox": self.is_sandbox,
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret,
            "redirect_uris": list(self.app.redirect_uris),
            "rotation": self.rotation,
            "client_credentials_user": self.app.client_credentials_user,
            "daily_api_requests": self.daily_limit,
            "api_usage": self.api_usage(),
            "long_requests_max": self.long_limit,
            "callout_url": self.callout_url,
            "callout_retries": self.callout_retries,
            "slow_seconds": self.slow_seconds,
            "earliest_deleted_available": (
                format_sf_datetime(self.earliest_deleted_available) if self.earliest_deleted_available else None
            ),
            "users": [user_summary(user) for user in self.users.values()],
            "records": {sobject: len(store) for sobject, store in self.stores.items()},
            "sessions_alive": sum(1 for session in self.sessions.values() if session.alive),
        }
