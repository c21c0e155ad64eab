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
    (callout_retries, callout_retry_seconds, slow_seconds), validation_rules {sObject: [ValidationRule]} (the
    control API switches them), and `tally_written(n)`: the kit counter `salesforce.records_written:<org id>`.
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

Layout: `state_records` (record stores, datetime text, the User row), `state_auth` (connected app, grants,
sessions, authorization codes), `state_org` (`SfOrg`), this module (`SalesforceState`: the orgs and the token
indexes). The names other modules use are re-exported here.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sandbox.kit.store import ChangeEvent
from sandbox.salesforce import ids
from sandbox.salesforce.flow import FlowCallouts
from sandbox.salesforce.state_auth import AuthCode, ConnectedApp, Grant, Session
from sandbox.salesforce.state_org import DAY_SECONDS, SfOrg
from sandbox.salesforce.state_records import (
    RECORD_SOBJECTS,
    SfRecordStore,
    format_sf_datetime,
    is_live,
    make_user_record,
    parse_sf_datetime,
    user_summary,
)

if TYPE_CHECKING:
    from sandbox.state import SandboxState

__all__ = [
    "DAY_SECONDS",
    "RECORD_SOBJECTS",
    "AuthCode",
    "ConnectedApp",
    "Grant",
    "SalesforceState",
    "Session",
    "SfOrg",
    "SfRecordStore",
    "format_sf_datetime",
    "is_live",
    "make_user_record",
    "parse_sf_datetime",
    "user_summary",
]


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
