"""HubSpot in memory: portals (accounts), apps, OAuth codes and tokens, and who hears of record changes.

Everything hangs off `sandbox.hubspot` (a `HubSpotState`):

    hs.portals: dict[portal id (int), Portal]          # state_portal.py: stores, properties, associations, owners
    hs.apps: dict[app id (str), App]                   # state_auth.py: client id/secret, redirect URLs, extra
    hs.create_portal(portal_id=..., name=..., owners=[...]) -> Portal
    hs.create_app(app_id=..., client_id=..., client_secret=...) -> App
    hs.portal(portal_id) -> Portal | None
    hs.app_of_client(client_id) -> App | None
    hs.token(access_token) -> (AccessToken, "ok" | "expired" | "unknown")
    hs.install(app, portal, user_id, scopes) -> RefreshGrant     # what a consent leaves (also the demo's grant)
    hs.issue_access(grant) -> AccessToken
    hs.listeners: list[Callable[[Change], None]]

Change hook (for webhooks): every write through a Portal's `create` / `update` / `archive` / `restore` / `merge` /
`associate` / `purge` (and `stamp` when asked) calls each of `hs.listeners` (and the portal's own `listeners`)
with a `Change` per record: portal_id, object_type ("contacts"), object_type_id ("0-1"), operation (creation |
propertyChange | deletion | restore | merge | associationChange | privacyDeletion), object_id, properties
(creation: the values set; propertyChange: {name: new value}, one Change per changed property), occurred_at
(epoch ms) and `source`: a `Source(change_source, source_id, app_id)`. API calls made with an app's OAuth token
give `Source("INTEGRATION", source_id=<app id>, app_id=<app id>)`; the control API's "a person edited it" gives
`Source("CRM_UI", source_id=<user id or None>)`. Listeners run on the calling thread, after the store changed;
they must be quick (queue work for later). Seeding (`Portal.put_rows`) announces nothing.

Faults (registered in sandbox/state.py): "hs_revoke_tokens" (every access token stops working:
401 INVALID_AUTHENTICATION), "hs_expire_tokens" (every access token expires: 401 EXPIRED_AUTHENTICATION),
"hs_edit_records" (records of an `object_type` get a new modified time while a sync pages).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.state_auth import (
    AccessToken,
    App,
    AuthCode,
    RefreshGrant,
    new_access_token,
    new_code,
    new_private_token,
    new_refresh_token,
)
from sandbox.hubspot.state_changes import SYSTEM, Change, Source
from sandbox.hubspot.state_portal import HsRecordStore, Portal

if TYPE_CHECKING:
    from sandbox.state import SandboxState

__all__ = [
    "SYSTEM",
    "AccessToken",
    "App",
    "AuthCode",
    "Change",
    "HsRecordStore",
    "HubSpotState",
    "Portal",
    "RefreshGrant",
    "Source",
]

CODE_TTL_SECONDS = 10 * 60
OK, EXPIRED, UNKNOWN = "ok", "expired", "unknown"


class HubSpotState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.portals: dict[int, Portal] = {}
        self.apps: dict[str, App] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, RefreshGrant] = {}  # refresh token -> grant
        self.tokens: dict[str, AccessToken] = {}  # access token -> token
        self.listeners: list[Callable[[Change], None]] = []
        self._clients: dict[str, str] = {}  # client id -> app id
        self._lock = threading.RLock()

    # --- portals and apps ----------------------------------------------------------------------------------
    def create_portal(
        self,
        *,
        portal_id: int | None = None,
        name: str = "Sandbox portal",
        domain: str | None = None,
        owners: Iterable[dict[str, Any]] = (),
        time_zone: str = "US/Eastern",
        utc_offset_hours: float = -5.0,
    ) -> Portal:
        with self._lock:
            number = int(portal_id) if portal_id else 20_000_000 + len(self.portals) + 1
            if number in self.portals:
                raise ValueError(f"portal {number} exists")
            slug = "".join(char for char in name.lower() if char.isalnum())[:30] or f"portal{number}"
            portal = Portal(
                self.sandbox,
                portal_id=number,
                name=name,
                domain=domain or f"{slug}.example.com",
                time_zone=time_zone,
                utc_offset_hours=utc_offset_hours,
                owners=owners,
            )
            self.portals[number] = portal
            return portal

    def portal(self, portal_id: int | str | None) -> Portal | None:
        try:
            return self.portals.get(int(portal_id)) if portal_id is not None else None
        except ValueError:
            return None

    def create_app(
        self,
        *,
        app_id: str | int | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        name: str = "Leadline",
        redirect_uris: Iterable[str] = (),
        scopes: Iterable[str] = (),
    ) -> App:
        import secrets
        import uuid

        with self._lock:
            app_id = str(app_id or 5_000_000 + len(self.apps) + 1)
            if app_id in self.apps:
                raise ValueError(f"app {app_id} exists")
            client_id = client_id or str(uuid.uuid4())
            if client_id in self._clients:
                raise ValueError("client_id is taken")
            app = App(
                app_id=app_id,
                client_id=client_id,
                client_secret=client_secret or str(uuid.UUID(bytes=secrets.token_bytes(16))),
                name=name,
                redirect_uris=list(redirect_uris),
                scopes=tuple(scopes),
            )
            self.apps[app_id] = app
            self._clients[client_id] = app_id
            return app

    def app_of_client(self, client_id: str | None) -> App | None:
        app_id = self._clients.get(client_id or "")
        return self.apps.get(app_id) if app_id else None

    # --- OAuth ---------------------------------------------------------------------------------------------
    def new_code(self, app: App, portal: Portal, user_id: int, redirect_uri: str, scopes: tuple[str, ...]) -> AuthCode:
        with self._lock:
            code = AuthCode(
                code=new_code(),
                app_id=app.app_id,
                portal_id=portal.portal_id,
                user_id=int(user_id),
                redirect_uri=redirect_uri,
                scopes=scopes,
                expires=self.sandbox.clock.timestamp() + CODE_TTL_SECONDS,
            )
            self.codes[code.code] = code
            return code

    def take_code(self, code: str) -> AuthCode | None:
        """The code, once (a second use finds nothing); None when unknown or expired."""
        with self._lock:
            found = self.codes.pop(code or "", None)
        if found is None or self.sandbox.clock.timestamp() >= found.expires:
            return None
        return found

    def install(
        self, app: App, portal: Portal, user_id: int, scopes: Iterable[str], *, token: str | None = None
    ) -> RefreshGrant:
        """An install of the app in the portal by a user: its refresh token (never rotated by HubSpot)."""
        with self._lock:
            grant = RefreshGrant(
                token=token or new_refresh_token(),
                app_id=app.app_id,
                portal_id=portal.portal_id,
                user_id=int(user_id),
                scopes=tuple(dict.fromkeys(scopes)),
                created=self.sandbox.clock.timestamp(),
            )
            self.grants[grant.token] = grant
            return grant

    def grant(self, refresh_token: str | None) -> RefreshGrant | None:
        found = self.grants.get(refresh_token or "")
        return found if found is not None and found.alive else None

    def issue_access(self, grant: RefreshGrant) -> AccessToken:
        with self._lock:
            token = AccessToken(
                token=new_access_token(),
                app_id=grant.app_id,
                portal_id=grant.portal_id,
                user_id=grant.user_id,
                scopes=grant.scopes,
                expires=self.sandbox.clock.timestamp() + self.sandbox.config.hs_access_token_ttl_seconds,
                refresh_token=grant.token,
            )
            self.tokens[token.token] = token
            return token

    def private_token(self, portal: Portal, scopes: Iterable[str], *, token: str | None = None) -> AccessToken:
        """A private app's static token for the portal (no expiry; daily rate headers on its calls)."""
        with self._lock:
            found = AccessToken(
                token=token or new_private_token(),
                app_id=None,
                portal_id=portal.portal_id,
                user_id=None,
                scopes=tuple(scopes),
                expires=math.inf,
                kind="private",
            )
            self.tokens[found.token] = found
            return found

    def token(self, access_token: str | None) -> tuple[AccessToken | None, str]:
        found = self.tokens.get(access_token or "")
        if found is None or not found.alive or self.portal(found.portal_id) is None:
            return None, UNKNOWN
        if self.sandbox.clock.timestamp() >= found.expires:
            return found, EXPIRED
        return found, OK

    def revoke_refresh(self, refresh_token: str) -> bool:
        """DELETE a refresh token: the install's refresh token and the access tokens it gave stop working."""
        with self._lock:
            grant = self.grants.get(refresh_token)
            if grant is None or not grant.alive:
                return False
            grant.alive = False
            for token in self.tokens.values():
                if token.refresh_token == refresh_token:
                    token.alive = False
            return True

    def revoke_all_access(self) -> int:
        """Every access token stops working (a fault action); refresh tokens still work."""
        with self._lock:
            live = [token for token in self.tokens.values() if token.alive]
            for token in live:
                token.alive = False
            return len(live)

    def expire_all_access(self) -> int:
        """Every OAuth access token expires now (a fault action): 401 EXPIRED_AUTHENTICATION until a refresh."""
        with self._lock:
            now = self.sandbox.clock.timestamp()
            live = [token for token in self.tokens.values() if token.alive and token.kind == "oauth"]
            for token in live:
                token.expires = min(token.expires, now)
            return len(live)

    # --- records everywhere --------------------------------------------------------------------------------
    def stores_of(self, object_type: str) -> list[HsRecordStore]:
        """An object type's store in every portal (fault actions act on all of them)."""
        return [portal.stores[object_type] for portal in self.portals.values() if object_type in portal.stores]

    def edit_for_fault(self, object_type: str, count: int) -> int:
        """The "hs_edit_records" fault: the first `count` live records (by id) of the type, in every portal, are
        edited by a person in HubSpot (a new modified time, CRM_UI changes)."""
        from sandbox.hubspot.catalog import EDITED

        edited = 0
        field = EDITED.get(object_type)
        for portal in self.portals.values():
            store = portal.stores.get(object_type)
            if store is None:
                continue
            with store.lock:
                victims = [record["id"] for _, record in zip(range(count), store.iter_by_id(), strict=False)]
            for record_id in victims:
                values = {field: f"edited while a sync paged ({record_id})"} if field else {}
                portal.update(object_type, record_id, values, source=Source.ui())
                edited += 1
        return edited

    # --- the demo world ------------------------------------------------------------------------------------
    def seed_world(self, name: str, *, seed: int) -> None:
        """The demo app and portal (sandbox/worlds.py DEMO_HS_*): owners, properties, the manager's install; in
        the "demo" world also companies, contacts (mixed phone formats, lifecycle stages), deals and tasks."""
        from sandbox.hubspot.seed import seed_demo_portal

        seed_demo_portal(self, name, seed=seed)
