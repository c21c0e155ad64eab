"""Salesforce orgs in memory: users, the connected app, OAuth grants and sessions, one record store per sObject,
the daily request allocation, long-running requests, query locators, Bulk 2.0 jobs and the delete log.

Everything hangs off `sandbox.salesforce` (a `SalesforceState`):

    sf.orgs: dict[org_id (18), SfOrg]
    sf.create_org(name=..., users=[...], ...) -> SfOrg
    sf.org_of_token(access_token) -> (SfOrg, Session) | None      # alive, unexpired sessions only
    sf.org_of_client(client_id) -> SfOrg | None
    sf.org_of_refresh_token(refresh_token) -> (SfOrg, Grant) | None  # live grants, current token only

An `SfOrg` holds
    org_id, name, my_domain, instance_url (None: the URL the caller used), users (the User store's records),
    app (ConnectedApp: client_id, client_secret, redirect_uris, rotation), grants {grant id: Grant},
    sessions {access token: Session}, schema {sObject: SobjectSchema}, stores {sObject: SfRecordStore},
    locators (kit CursorBook for query locators), daily (RollingWindow: the 24 h allocation),
    bulk_jobs {job id: anything QRY keeps}, deleted_log {sObject: [{"id", "deletedDate"}]},
    earliest_deleted_available (datetime | None: moved by a purge), callout_url, and run-time overrides of the
    sandbox config (daily_api_requests, long_requests_max; None: the config's) and of the org's own behaviour
    (callout_retries, callout_retry_seconds, slow_seconds).
`sf.listeners` hear every record change an org commits (the Flow callout, flow.py, is the first). API and
control writes go through writes.py (validated, derived fields set); seeding writes rows directly (seed.py).

Records are dicts keyed by API field names, with `Id` (18 chars) and the kit's own `id` (the same value), system
fields set by the store (CreatedDate, CreatedById, LastModifiedDate, LastModifiedById, SystemModstamp, OwnerId,
IsDeleted) and hidden keys starting with "_" (`_last_client`: the `Sforce-Call-Options` client of the last
write). Reference fields hold 18-character ids. Datetimes are text as the API answers them,
"2026-12-07T14:03:56.000+0000" (`format_sf_datetime` / `parse_sf_datetime`), dates "2026-12-07".

Deletes are soft, as the Recycle Bin is: `org.delete_record()` sets IsDeleted, moves SystemModstamp and writes the
delete log; the row stays in its store (queryAll sees it, query must skip it: `is_live(record)`) until
`org.purge_deleted(before)` removes it and moves `earliest_deleted_available` (getDeleted's earliestDateAvailable).

Sessions: an access token is a session; it expires `sf_access_token_ttl_seconds` after its last use (the org's
session timeout is an inactivity timeout) or when ended: revoked, or by a refresh of its grant (always with
rotation; without rotation when `sf_refresh_ends_session`: an UNCONFIRMED vendor point, the stricter reading
by default; docs/vendors/salesforce.md). Query locators are bound to the session that opened them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.kit import store as kit
from sandbox.kit.cursors import CursorBook
from sandbox.kit.limits import RollingWindow
from sandbox.kit.store import ChangeEvent
from sandbox.salesforce import ids
from sandbox.salesforce.flow import FlowCallouts
from sandbox.salesforce.schema import SobjectSchema, build_schemas

if TYPE_CHECKING:
    from sandbox.state import SandboxState

DAY_SECONDS = 24 * 3600
RECORD_SOBJECTS = ("Lead", "Contact", "Account", "Opportunity", "Task")  # writable through the sObject API


def format_sf_datetime(moment: datetime) -> str:
    """The REST API's datetime text: UTC, milliseconds, '+0000' (2026-12-07T14:03:56.000+0000). The emulator
    stamps whole seconds, so records written in one second share a SystemModstamp, as bulk updates do."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse_sf_datetime(text: str) -> datetime:
    """A datetime as the API writes it, or as clients send it (Z, +00:00, +0000, with or without milliseconds)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _fold(value: Any) -> str | None:
    return None if value is None or value == "" else str(value).lower()


def is_live(record: dict[str, Any]) -> bool:
    """Not in the Recycle Bin (query shows it; queryAll shows both)."""
    return not record.get("IsDeleted")


@dataclass
class ConnectedApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Leadline"
    rotation: bool | None = None  # None: the sandbox's sf_refresh_token_rotation
    client_credentials_user: str | None = None  # the run-as user of the client credentials flow (off when None)


@dataclass
class Grant:
    """A refresh token's grant: the user's approval of the app. With rotation its token changes at every refresh
    (the previous ones are retired: using one answers invalid_grant)."""

    id: str
    user_id: str
    client_id: str
    refresh_token: str
    scopes: tuple[str, ...]
    created: float
    alive: bool = True
    retired: set[str] = field(default_factory=set)


@dataclass
class Session:
    id: str
    token: str
    org_id: str
    user_id: str
    client_id: str
    grant_id: str | None
    scopes: tuple[str, ...]
    created: float
    expires: float
    alive: bool = True
    ended_reason: str = ""


@dataclass
class AuthCode:
    code: str
    org_id: str
    user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None


class SfRecordStore(kit.RecordStore):
    """One sObject's records (the kit's store with Salesforce's system fields, ids and datetimes)."""

    def __init__(self, sobject: str, *, org: SfOrg) -> None:
        super().__init__(
            sobject,
            new_id=lambda: org.ids.new(sobject),
            now=org.sandbox.clock.now,
            stamp=format_sf_datetime,
            parse=parse_sf_datetime,
            modified_field="SystemModstamp",
            created_field="CreatedDate",
            id_key=str,
        )
        self.org = org
        # Lookup indexes of fields by value, made on first use (external ids: upserts, unique checks):
        # field -> (folded value -> ids, id -> folded value).
        self._lookups: dict[str, tuple[dict[str, set[str]], dict[str, str]]] = {}

    @property
    def sobject(self) -> str:
        return self.kind

    # --- lookups by value ----------------------------------------------------------------------------------
    def lookup(self, field_name: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose `field_name` equals `value` (case-insensitively, as external ids compare), in id
        order."""
        with self.lock:
            by_value, _ = self._lookup_index(field_name)
            found = (self.records.get(record_id) for record_id in sorted(by_value.get(_fold(value), ())))
            return [record for record in found if record is not None and not record.get("IsDeleted")]

    def _lookup_index(self, field_name: str) -> tuple[dict[str, set[str]], dict[str, str]]:
        index = self._lookups.get(field_name)
        if index is None:
            by_value: dict[str, set[str]] = {}
            by_id: dict[str, str] = {}
            for record_id, record in self.records.items():
                folded = _fold(record.get(field_name))
                if folded is not None:
                    by_value.setdefault(folded, set()).add(record_id)
                    by_id[record_id] = folded
            index = self._lookups[field_name] = (by_value, by_id)
        return index

    def _track(self, record_id: str, record: dict[str, Any] | None) -> None:
        for field_name, (by_value, by_id) in self._lookups.items():
            old = by_id.pop(record_id, None)
            if old is not None:
                holders = by_value.get(old)
                if holders is not None:
                    holders.discard(record_id)
                    if not holders:
                        del by_value[old]
            new = _fold(record.get(field_name)) if record is not None else None
            if new is not None:
                by_value.setdefault(new, set()).add(record_id)
                by_id[record_id] = new

    def rebuild_indexes(self) -> None:
        with self.lock:
            super().rebuild_indexes()
            self._lookups.clear()

    def restore(self, before: dict[str, Any]) -> None:
        """Put a row back as it was (a rolled-back write): every field, its place in the indexes."""
        with self.lock:
            record = self.records[before["id"]]
            record.clear()
            record.update(before)
            self._index(record)
            self._track(record["Id"], record)

    def delete(self, record_id: str, **options: Any) -> dict[str, Any] | None:  # type: ignore[override]
        """Remove a row for good (a purge; `SfOrg.delete_record` is the API's soft delete)."""
        with self.lock:
            record = super().delete(record_id, **options)
            if record is not None:
                self._track(record["Id"], None)
            return record

    def insert(  # type: ignore[override]
        self,
        values: dict[str, Any],
        *,
        by_user: str | None = None,
        at: datetime | None = None,
        client: str | None = None,
        notify: bool = True,
        by_api: bool = False,
    ) -> dict[str, Any]:
        """Add a record: Id, CreatedDate = LastModifiedDate = SystemModstamp, CreatedById/LastModifiedById (and
        OwnerId unless given) = `by_user` (default: the org's admin), IsDeleted false."""
        record = dict(values)
        record_id = record.get("Id") or self.org.ids.new(self.sobject)
        stamp = self.now_text(at)
        user = by_user or self.org.admin_user_id
        record["Id"] = record["id"] = record_id
        record.setdefault("CreatedDate", stamp)
        record.setdefault("SystemModstamp", record["CreatedDate"])
        record.setdefault("LastModifiedDate", record["SystemModstamp"])
        record.setdefault("CreatedById", user)
        record.setdefault("LastModifiedById", user)
        record.setdefault("IsDeleted", False)
        if self.org.schema[self.sobject].field("OwnerId") is not None:
            record.setdefault("OwnerId", user)
        if client:
            record["_last_client"] = client
        with self.lock:
            inserted = super().insert(record, at=at, notify=False)
            self._track(inserted["Id"], inserted)
        if notify:
            self._emit(ChangeEvent(self.kind, "insert", [inserted["Id"]], {inserted["Id"]: sorted(values)}, by_api))
        return inserted

    def update(  # type: ignore[override]
        self,
        record_id: str,
        changes: dict[str, Any],
        *,
        by_user: str | None = None,
        bump_modified: bool = True,
        at: datetime | None = None,
        client: str | None = None,
        notify: bool = True,
        by_api: bool = False,
    ) -> dict[str, Any]:
        """Change fields; with `bump_modified` SystemModstamp and LastModifiedDate move to `at` (default now) and
        LastModifiedById is `by_user`; without, the change is silent (a formula or rollup recalculated)."""
        changes = dict(changes)
        if client:
            changes["_last_client"] = client
        stamped = None
        if bump_modified:
            at = at or self._now()
            stamped = {
                "LastModifiedDate": self.now_text(at),
                "LastModifiedById": by_user or self.org.admin_user_id,
            }
        with self.lock:
            updated = super().update(
                record_id, changes, bump_modified=bump_modified, at=at, stamped=stamped, notify=False
            )
            self._track(updated["Id"], updated)
        if notify:
            self._emit(ChangeEvent(self.kind, "update", [updated["Id"]], {updated["Id"]: sorted(changes)}, by_api))
        return updated


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


def user_summary(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["Id"], "name": user["Name"], "email": user["Email"], "username": user["Username"]}


def make_user_record(spec: dict[str, Any], *, stamp: str, creator: str | None) -> dict[str, Any]:
    """A User row from {id, first_name, last_name, email, title?, username?, time_zone?}."""
    first, last = spec.get("first_name", ""), spec.get("last_name") or "User"
    name = f"{first} {last}".strip()
    email = spec["email"]
    return {
        "Id": spec["id"],
        "id": spec["id"],
        "Username": spec.get("username") or email,
        "FirstName": first or None,
        "LastName": last,
        "Name": name,
        "Email": email,
        "IsActive": spec.get("active", True),
        "Alias": (first[:1] + last[:4]).lower() or "user",
        "Title": spec.get("title"),
        "Phone": spec.get("phone"),
        "MobilePhone": None,
        "TimeZoneSidKey": spec.get("time_zone", "America/Los_Angeles"),
        "LocaleSidKey": "en_US",
        "LanguageLocaleKey": "en_US",
        "UserType": "Standard",
        "ProfileId": None,
        "UserRoleId": None,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "CreatedById": creator or spec["id"],
        "LastModifiedDate": stamp,
        "LastModifiedById": creator or spec["id"],
        "SystemModstamp": stamp,
    }


class SalesforceState:
    """Every emulated Salesforce org, and the token indexes the login host and the data API look tokens up in."""

    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.orgs: dict[str, SfOrg] = {}
        self.codes: dict[str, AuthCode] = {}
        self._tokens: dict[str, str] = {}  # access token -> org id
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token (current or retired) -> (org id, grant id)
        self._clients: dict[str, str] = {}  # client id -> org id
        self._lock = threading.RLock()
        self.flow = FlowCallouts(sandbox)
        # Who hears of every committed record change (org, event): the Flow callout on new Leads, and whatever
        # else subscribes (e.g. Bulk jobs, change feeds).
        self.listeners: list[Callable[[SfOrg, ChangeEvent], None]] = [self.flow.handle]

    # --- orgs ----------------------------------------------------------------------------------------------
    def create_org(
        self,
        *,
        name: str,
        users: list[dict[str, Any]] | tuple[dict[str, Any], ...],
        org_id: str | None = None,
        org_tag: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        rotation: bool | None = None,
        instance_url: str | None = None,
        my_domain: str | None = None,
        is_sandbox: bool = False,
    ) -> SfOrg:
        """An org with its users (the first is the admin; ids made when a spec has none) and a connected app."""
        with self._lock:
            number = len(self.orgs) + 1
            tag = org_tag or ids.org_tag_for(number)
            org_id = ids.normalize(org_id) if org_id else ids.org_id_for(number)
            if org_id is None or org_id in self.orgs:
                raise ValueError(f"org id {org_id!r} is taken or not an id")
            client_id = client_id or f"3MVG9{secrets.token_urlsafe(60)[:80]}"
            if client_id in self._clients:
                raise ValueError("client_id is taken")
            app = ConnectedApp(
                client_id=client_id,
                client_secret=client_secret or secrets.token_hex(32).upper(),
                redirect_uris=list(redirect_uris),
                rotation=rotation,
            )
            slug = "".join(char for char in name.lower() if char.isalnum())[:30] or f"org{number}"
            org = SfOrg(
                self.sandbox,
                org_id=org_id,
                name=name,
                org_tag=tag,
                app=app,
                my_domain=my_domain or slug,
                instance_url=instance_url,
                is_sandbox=is_sandbox,
            )
            stamp = format_sf_datetime(self.sandbox.clock.now())
            user_store = org.stores["User"]
            for spec in users:
                spec = dict(spec)
                spec["id"] = ids.normalize(spec.get("id")) or org.ids.new("User")
                record = make_user_record(spec, stamp=stamp, creator=org.admin_user_id or None)
                user_store.records[record["Id"]] = record
                org.admin_user_id = org.admin_user_id or record["Id"]
            user_store.rebuild_indexes()
            self.orgs[org_id] = org
            self._clients[client_id] = org_id
            return org

    def org(self, org_id: str) -> SfOrg | None:
        normalized = ids.normalize(org_id)
        return self.orgs.get(normalized) if normalized else None

    def org_of_client(self, client_id: str | None) -> SfOrg | None:
        org_id = self._clients.get(client_id or "")
        return self.orgs.get(org_id) if org_id else None

    # --- tokens --------------------------------------------------------------------------------------------
    def new_grant(self, org: SfOrg, user_id: str, scopes: tuple[str, ...], *, token: str | None = None) -> Grant:
        with self._lock:
            grant = Grant(
                id=org.ids.new_for_prefix(ids.KEY_PREFIXES["Grant"]),
                user_id=user_id,
                client_id=org.app.client_id,
                refresh_token=token or f"5Aep861{secrets.token_urlsafe(64)[:80]}",
                scopes=scopes,
                created=self.sandbox.clock.timestamp(),
            )
            org.grants[grant.id] = grant
            self._refresh[grant.refresh_token] = (org.org_id, grant.id)
            return grant

    def rotate(self, org: SfOrg, grant: Grant) -> str:
        """A new refresh token for the grant; the previous one is retired (invalid_grant from now on)."""
        with self._lock:
            grant.retired.add(grant.refresh_token)
            grant.refresh_token = f"5Aep861{secrets.token_urlsafe(64)[:80]}"
            self._refresh[grant.refresh_token] = (org.org_id, grant.id)
            return grant.refresh_token

    def org_of_refresh_token(self, token: str | None) -> tuple[SfOrg, Grant] | None:
        """The org and live grant whose CURRENT refresh token this is (retired or revoked ones: None)."""
        found = self._refresh.get(token or "")
        if found is None:
            return None
        org = self.orgs.get(found[0])
        grant = org.grants.get(found[1]) if org else None
        if org is None or grant is None or not grant.alive or grant.refresh_token != token:
            return None
        return org, grant

    def new_session(self, org: SfOrg, user_id: str, *, grant: Grant | None, scopes: tuple[str, ...]) -> Session:
        with self._lock:
            now = self.sandbox.clock.timestamp()
            token = f"{org.org_id[:15]}!{secrets.token_urlsafe(72)[:96]}"
            session = Session(
                id=org.ids.new_for_prefix(ids.KEY_PREFIXES["Session"]),
                token=token,
                org_id=org.org_id,
                user_id=user_id,
                client_id=org.app.client_id,
                grant_id=grant.id if grant else None,
                scopes=scopes,
                created=now,
                expires=now + self.sandbox.config.sf_access_token_ttl_seconds,
            )
            org.sessions[token] = session
            self._tokens[token] = org.org_id
            return session

    def org_of_token(self, token: str | None, *, touch: bool = True) -> tuple[SfOrg, Session] | None:
        """The org and session of a live access token (None: unknown, ended or expired). A use extends the
        session by the timeout (`touch`)."""
        org_id = self._tokens.get(token or "")
        org = self.orgs.get(org_id) if org_id else None
        session = org.sessions.get(token) if org else None
        if org is None or session is None or not session.alive:
            return None
        now = self.sandbox.clock.timestamp()
        if now >= session.expires:
            session.alive = False
            session.ended_reason = "expired"
            return None
        if touch:
            session.expires = now + self.sandbox.config.sf_access_token_ttl_seconds
        return org, session

    def session_alive(self, org: SfOrg, session_id: str) -> bool:
        """Whether a session (by its id, as a locator remembers it) can still be used."""
        for session in org.sessions.values():
            if session.id == session_id:
                return session.alive and self.sandbox.clock.timestamp() < session.expires
        return False

    def end_all_sessions(self, reason: str = "revoked") -> int:
        """End every session of every org (a fault action); grants stay, so a refresh works."""
        return sum(org.end_sessions(reason=reason) for org in self.orgs.values())

    def revoke_grant(self, org: SfOrg, grant: Grant, *, reason: str = "revoked") -> None:
        grant.alive = False
        org.end_sessions(grant_id=grant.id, reason=reason)

    # --- the demo world -------------------------------------------------------------------------------------
    def seed_world(self, name: str, *, seed: int) -> None:
        """The demo org (sandbox/worlds.py): its users, connected app and the manager's ready grant; in the
        "demo" world also its Leads, Contacts and Tasks and the Flow callout to the product's webhook."""
        from sandbox import worlds
        from sandbox.salesforce.oauth import APP_SCOPES
        from sandbox.salesforce.seed import seed as seed_rows

        org = self.create_org(
            name=worlds.DEMO_SF_ORG_NAME,
            users=worlds.DEMO_SF_USERS,
            org_id=worlds.DEMO_SF_ORG_ID,
            org_tag="00",
            client_id=worlds.DEMO_SF_CLIENT_ID,
            client_secret=worlds.DEMO_SF_CLIENT_SECRET,
            redirect_uris=worlds.DEMO_SF_REDIRECT_URIS,
            my_domain=worlds.DEMO_SF_MY_DOMAIN,
        )
        self.new_grant(org, org.admin_user_id, APP_SCOPES, token=worlds.DEMO_SF_REFRESH_TOKEN)
        if name != "demo":
            return
        org.callout_url = self.sandbox.config.product_base_url.rstrip("/") + worlds.DEMO_SF_LEAD_WEBHOOK_PATH
        seed_rows(org, "Account", 10, seed=seed)
        seed_rows(org, "Contact", 30, seed=seed)
        seed_rows(org, "Lead", worlds.DEMO_SF_LEADS, seed=seed)
        seed_rows(org, "Task", 40, seed=seed)

    # --- changes -------------------------------------------------------------------------------------------
    def on_record_change(self, org: SfOrg, event: ChangeEvent) -> None:
        for listener in list(self.listeners):
            listener(org, event)

    def stores_of(self, sobject: str) -> list[SfRecordStore]:
        """The sObject's store in every org (fault actions act on all of them)."""
        return [store for org in self.orgs.values() if (store := org.store(sobject)) is not None]
