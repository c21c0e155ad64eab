"""Dynamics 365 / Dataverse and Microsoft Entra ID in memory.

Everything hangs off `sandbox.dynamics` (a `DynamicsState`):

    dv.tenants: dict[tenant id, Tenant]            # state_auth.py: people (TenantUser), consented service principals
    dv.environments: dict[name, Environment]       # state_env.py: one Dataverse organization each
    dv.apps: dict[client id, EntraApp]             # app registrations (the demo's multi-tenant Leadline app)
    dv.listeners: list[Callable[[Change], None]]
    dv.base_url, dv.tls_url                        # the sandbox's plain and HTTPS URLs (SandboxServer records them)
    dv.create_tenant(tenant_id=None, name=..., domain=None, users=()) -> Tenant
    dv.create_app(client_id=None, client_secret=None, name=...) -> EntraApp
    dv.consent(tenant_id, client_id) -> principal object id      # an admin's consent; dv.consented(tid, client_id)
    dv.revoke_consent(tenant_id, client_id) -> bool
    dv.create_environment(name, tenant_id=None, organization_name=..., users=3, consent=True) -> Environment
    dv.environment(name) -> Environment | None
    dv.issue_token(...) -> AccessToken; dv.token(access_token) -> AccessToken | None (None: unknown or expired)

`Environment` (state_env.py): name, url (`{base_url}/dynamics/<name>`), organization_id, organization_name,
tenant_id, business_unit_id, `lock` (RLock), `tables: dict[logical name, Table]`, `version` (int counter: every
write stamps the row's `versionnumber` with the next one), `create(table, values, *, by, at=None, row_id=None)
-> row`, `update(table, id, values, *, by, at=None) -> row`, `delete(table, id, *, by)`, `backdate(table, ids,
modifiedon)` (new versionnumber, nothing announced), `rows(table)`, `row(table, id)`, `table_of_set(entity set)`,
`tombstones: list[Tombstone(version, table, id, at)]`, `token_floor_version` (delta tokens below it are
expired), `application_user(client_id)`, `user(systemuserid)`, `user_by_object_id(oid)`, `put_rows` (seeding),
`extra` (a dict other modules may keep per-environment state in). Rows and their stored forms: state_tables.py
(lookups: the target id under the column's name and the target table under "<column>@table"; datetimes aware UTC).
Errors: RowNotFound (KeyError; str() is Dataverse's "<table> With Id = <id> Does Not Exist"), DuplicateRow.
Fault actions: "dv_revoke_tokens" (every access token stops working: 401 until the client gets a new one) and
"dv_edit_records" (table, count: people edit rows while a sync pages; `edit_for_fault`, registered in
sandbox/state.py).

`Table` (state_tables.py): logical_name, entity_set_name, primary_id, primary_name, change_tracking, is_activity,
attributes: dict[name, Attribute], alternate_keys: dict[key name, columns], rows: dict[id, row] (each row has
`versionnumber`).

Change hook (webhooks): after each write through Environment.create / update / delete (not seeding, not backdate)
every `dv.listeners` callable gets a `Change(environment, table, operation "Create"|"Update"|"Delete", row_id,
row, by_user, at, changed)` on the calling thread, after the store changed (inside the environment's lock when
the caller holds it, as records.py does for an upsert's check-and-write); listeners must be quick. `by_user` is a
systemuserid: the application user's for calls with an app token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.state_auth import (
    AccessToken,
    AuthCode,
    EntraApp,
    Tenant,
    TenantUser,
    new_code,
    new_guid,
    new_token,
)
from sandbox.dynamics.state_env import DuplicateRow, Environment, RowNotFound, norm_id
from sandbox.dynamics.state_tables import Attribute, Change, Row, Table, Tombstone

if TYPE_CHECKING:
    from sandbox.state import SandboxState

__all__ = [
    "AccessToken",
    "Attribute",
    "AuthCode",
    "Change",
    "DuplicateRow",
    "DynamicsState",
    "EntraApp",
    "Environment",
    "Row",
    "RowNotFound",
    "Table",
    "Tenant",
    "TenantUser",
    "Tombstone",
    "norm_id",
]

CODE_TTL_SECONDS = 10 * 60
TOKENS_KEPT = 20_000
DEFAULT_BASE_URL = "http://127.0.0.1:8100"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class DynamicsState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.tenants: dict[str, Tenant] = {}
        self.environments: dict[str, Environment] = {}
        self.apps: dict[str, EntraApp] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.listeners: list[Callable[[Change], None]] = []
        self.extra: dict[str, Any] = {}
        self._lock = threading.RLock()
        from sandbox.kit.faults import FaultAction

        # "dv_revoke_tokens": every Entra access token stops working (the Web API answers 401 until a new token).
        sandbox.faults.register(FaultAction("dv_revoke_tokens", lambda rule: self.revoke_all()))

    # --- where the sandbox is (SandboxServer records it on the sandbox state, which a reset keeps) ---------------
    @property
    def base_url(self) -> str:
        """The sandbox's plain URL: environment URLs are `{base_url}/dynamics/<name>`."""
        return (getattr(self.sandbox, "public_urls", None) or {}).get("base") or DEFAULT_BASE_URL

    @property
    def tls_url(self) -> str:
        """The HTTPS listener (Entra's authority host), "" when none runs."""
        return (getattr(self.sandbox, "public_urls", None) or {}).get("tls") or ""

    # --- Entra: tenants, apps, consent -------------------------------------------------------------------------
    def create_tenant(
        self,
        tenant_id: str | None = None,
        *,
        name: str = "Contoso",
        domain: str | None = None,
        users: Iterable[TenantUser] = (),
    ) -> Tenant:
        with self._lock:
            tid = norm_id(tenant_id) if tenant_id else new_guid()
            if tid in self.tenants:
                raise ValueError(f"tenant {tid} exists")
            slug = "".join(char for char in name.lower() if char.isalnum())[:24] or "tenant"
            tenant = Tenant(tid, name, domain or f"{slug}.onmicrosoft.com")
            for user in users:
                tenant.users[user.object_id] = user
            self.tenants[tid] = tenant
            return tenant

    def tenant(self, tenant_id: str | None) -> Tenant | None:
        try:
            return self.tenants.get(norm_id(tenant_id)) if tenant_id else None
        except ValueError:
            return None

    def add_person(self, tenant: Tenant, name: str, *, admin: bool = False, object_id: str | None = None) -> TenantUser:
        local = ".".join(part.lower() for part in name.split() if part) or "user"
        user = TenantUser(object_id or new_guid(), name, f"{local}@{tenant.domain}", admin, f"{local}@{tenant.domain}")
        tenant.users[user.object_id] = user
        return user

    def create_app(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        name: str = "Leadline",
        home_tenant_id: str = "",
        redirect_uris: Iterable[str] = (),
    ) -> EntraApp:
        with self._lock:
            app = EntraApp(
                client_id=norm_id(client_id) if client_id else new_guid(),
                client_secret=client_secret or new_token(),
                name=name,
                home_tenant_id=home_tenant_id,
                redirect_uris=list(redirect_uris),
            )
            self.apps[app.client_id] = app
            return app

    def app(self, client_id: str | None) -> EntraApp | None:
        try:
            return self.apps.get(norm_id(client_id)) if client_id else None
        except ValueError:
            return None

    def consent(self, tenant_id: str, client_id: str) -> str:
        """An admin of the tenant grants the app (its service principal appears in the tenant): its object id."""
        with self._lock:
            tenant = self.tenant(tenant_id)
            if tenant is None:
                raise KeyError(tenant_id)
            key = norm_id(client_id)
            return tenant.service_principals.setdefault(key, new_guid())

    def revoke_consent(self, tenant_id: str, client_id: str) -> bool:
        """An admin removes the app from the tenant (its enterprise application): new tokens are refused; tokens
        already issued work until they expire, as in Entra."""
        with self._lock:
            tenant = self.tenant(tenant_id)
            return tenant is not None and tenant.service_principals.pop(norm_id(client_id), None) is not None

    def consented(self, tenant_id: str, client_id: str) -> bool:
        tenant = self.tenant(tenant_id)
        try:
            return tenant is not None and norm_id(client_id) in tenant.service_principals
        except ValueError:
            return False

    # --- environments --------------------------------------------------------------------------------------------
    def create_environment(
        self,
        name: str | None = None,
        tenant_id: str | None = None,
        organization_name: str = "Contoso",
        users: int = 3,
        consent: bool = True,
        *,
        organization_id: str | None = None,
        client_id: str | None = None,
        seed: int = 0,
        people: tuple[dict[str, Any], ...] = (),
    ) -> Environment:
        """A Dataverse environment with its tables (seed_tables.py), `users` system users who are people of the
        tenant (the first an admin), and (consent=True) the demo app consented in the tenant with its application
        user. The tenant is created when it does not exist."""
        from sandbox.dynamics import seed as seeding

        with self._lock:
            name = (name or f"org{len(self.environments) + 1:03d}").lower()
            if not _NAME.match(name):
                raise ValueError(f"environment name {name!r}: lower-case letters, digits and dashes")
            if name in self.environments:
                raise ValueError(f"environment {name} exists")
            tenant = self.tenant(tenant_id)
            if tenant is None:
                tenant = self.create_tenant(tenant_id, name=organization_name)
            environment = Environment(
                self,
                name=name,
                tenant_id=tenant.tenant_id,
                organization_name=organization_name,
                organization_id=organization_id,
                tables=seeding.new_tables(),
            )
            self.environments[name] = environment
            seeding.add_people(self, environment, tenant, users, seed=seed, people=people)
            if consent:
                app_id = client_id or seeding.DEMO_DV_CLIENT_ID
                if self.app(app_id) is None and app_id == seeding.DEMO_DV_CLIENT_ID:
                    self.create_app(seeding.DEMO_DV_CLIENT_ID, seeding.DEMO_DV_CLIENT_SECRET, name="Leadline")
                self.consent(tenant.tenant_id, app_id)
                self.add_application_user(environment, app_id)
            return environment

    def environment(self, name: str | None) -> Environment | None:
        return self.environments.get((name or "").lower())

    def environment_of_url(self, url: str) -> Environment | None:
        """The environment an audience or scope names (`<anything>/dynamics/<name>[/.default]`)."""
        match = re.search(r"/dynamics/([a-z0-9-]+)", (url or "").lower())
        return self.environment(match.group(1)) if match else None

    def add_application_user(self, environment: Environment, client_id: str, *, systemuserid: str | None = None) -> Row:
        """The application user an admin creates for the app in the environment (Power Platform admin center)."""
        found = environment.application_user(client_id)
        if found is not None:
            return found
        app = self.app(client_id)
        principal = self.consent(environment.tenant_id, client_id)
        name = f"# {app.name if app else 'Application'}"
        return environment.create(
            "systemuser",
            {
                "firstname": "#",
                "lastname": app.name if app else "Application",
                "fullname": name,
                "applicationid": norm_id(client_id),
                "azureactivedirectoryobjectid": principal,
                "internalemailaddress": f"{norm_id(client_id)}@application.invalid",
                "isdisabled": False,
                "accessmode": 4,  # non-interactive
                "businessunitid": environment.business_unit_id,
                "businessunitid@table": "businessunit",
            },
            by="",
            row_id=systemuserid,
            notify=False,
        )

    # --- tokens and codes ----------------------------------------------------------------------------------------
    def issue_token(
        self,
        *,
        tenant_id: str,
        client_id: str,
        audience: str,
        object_id: str,
        systemuserid: str | None,
        kind: str = "app",
        scopes: tuple[str, ...] = (),
        token: str | None = None,
    ) -> AccessToken:
        ttl = self.sandbox.config.dv_access_token_ttl_seconds
        found = AccessToken(
            token=token or new_token(),
            tenant_id=tenant_id,
            client_id=client_id,
            audience=audience.rstrip("/"),
            object_id=object_id,
            systemuserid=systemuserid,
            expires_at=self.sandbox.clock.timestamp() + ttl,
            kind=kind,
            scopes=scopes,
        )
        with self._lock:
            if len(self.tokens) >= TOKENS_KEPT:  # a long benchmark asks for many; forget the expired ones
                now = self.sandbox.clock.timestamp()
                self.tokens = {key: value for key, value in self.tokens.items() if value.expires_at > now}
            self.tokens[found.token] = found
        return found

    def token(self, access_token: str | None) -> AccessToken | None:
        found = self.tokens.get(access_token or "")
        if found is None or self.sandbox.clock.timestamp() >= found.expires_at:
            return None
        return found

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    # --- faults ---------------------------------------------------------------------------------------------------
    def edit_for_fault(self, table: str, count: int) -> int:
        """The "dv_edit_records" fault: a person of each environment edits the first `count` rows (by id) of
        `table`, as if while a sync paged: a second later on the sandbox's clock (Dataverse keeps whole seconds, so
        the edits' modifiedon lands after anything read before), each a new versionnumber, announced to listeners
        as that person's Update. Environments without the table or without people are left alone."""
        self.sandbox.clock.advance(1.0)
        edited = 0
        for environment in list(self.environments.values()):
            spec = environment.table(table)
            people = [row for row in environment.rows("systemuser") if not row.get("applicationid")]
            if spec is None or not people:
                continue
            values = {"description": "edited while a sync paged"} if spec.attribute("description") else {}
            key = spec.primary_id
            with environment.lock:
                victims = sorted(str(row[key]) for row in environment.rows(table))[: max(count, 0)]
                for row_id in victims:
                    environment.update(table, row_id, dict(values), by=str(people[0]["systemuserid"]))
                    edited += 1
        return edited

    def new_code(self, **fields: Any) -> AuthCode:
        code = AuthCode(code=new_code(), expires_at=self.sandbox.clock.timestamp() + CODE_TTL_SECONDS, **fields)
        with self._lock:
            self.codes[code.code] = code
        return code

    def take_code(self, code: str) -> AuthCode | None:
        with self._lock:
            found = self.codes.pop(code or "", None)
        if found is None or self.sandbox.clock.timestamp() >= found.expires_at:
            return None
        return found

    # --- worlds --------------------------------------------------------------------------------------------------
    def seed_world(self, name: str, *, seed: int) -> None:
        from sandbox.dynamics import seed as seeding

        seeding.seed_world(self, name, seed=seed)
