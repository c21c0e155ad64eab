"""Zoho CRM orgs: their users, modules (one RecordStore each), the API-credit pool and concurrency.

CONTRACT used by every CRM endpoint (api.py, coql.py, bulk/, notifications/):

    org_or_error = sandbox.crm.authenticate(request, scope="ZohoCRM.modules.READ")
    if isinstance(org_or_error, Response): return org_or_error      # 401 in Zoho's shape
    org, user = org_or_error
    with org.calling() as refused:                                  # concurrency cap
        if refused: return refused                                   # 429 TOO_MANY_REQUESTS
        refused = org.charge(credits)                                # rolling 24 h credit pool
        if refused: return refused
        ...

`scope` is one required scope ("ZohoCRM.modules.leads.READ") or a tuple of scopes that are all required. A
granted scope covers a required one when the service matches, its groups are a prefix of the required ones
and its operation is ALL (or the same, or WRITE for CREATE/UPDATE/DELETE): `ZohoCRM.modules.ALL` covers
`ZohoCRM.modules.leads.READ`; `ZohoCRM.modules.contacts.READ` does not. Module names compare case-insensitively.

401 bodies (docs/vendors/zoho-crm.md, Limits and errors): a missing or malformed header, or any scheme but
`Zoho-oauthtoken` (`Bearer` included) → AUTHENTICATION_FAILURE; an unknown, expired, revoked or evicted token →
INVALID_TOKEN; a token without the scope → OAUTH_SCOPE_MISMATCH ("Unauthorized", or "invalid oauth scope to access this
URL" on Notes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import zoho_error
from sandbox.kit.cursors import CursorBook
from sandbox.kit.limits import ConcurrencyGate, RollingWindow
from sandbox.zoho_crm.store import IdSequence, RecordStore, fixed_offset

if TYPE_CHECKING:
    from sandbox.state import SandboxState

RECORD_ID_START = 10_000_000  # record ids sit above users, fields, picklist values and layouts of the org
ORG_TIME_ZONE = "America/New_York"  # the label of config.org_utc_offset_hours' default (-5)


class OrgIdSequence(IdSequence):
    """An org's id sequence under its own 7-digit prefix (ids of two orgs never coincide)."""

    def __init__(self, prefix: str, start: int = RECORD_ID_START) -> None:
        super().__init__(start, prefix=prefix)


def minified(user: dict[str, Any], *, email: bool = True) -> dict[str, Any]:
    """A user as record fields carry it: Owner {name, id, email}; Created_By/Modified_By as {name, id, email}."""
    result = {"name": user["full_name"], "id": user["id"]}
    if email:
        result["email"] = user["email"]
    return result


def make_user(prefix: str, spec: dict[str, Any], *, admin: dict[str, Any] | None, number: int) -> dict[str, Any]:
    """A CRM user in the shape of `GET /crm/v8/users` (docs/vendors/zoho-crm.md, Users)."""
    full_name = f"{spec['first_name']} {spec['last_name']}".strip()
    creator = admin or {"full_name": full_name, "id": spec["id"]}
    profile = spec.get("profile", "Standard")
    role = spec.get("role", "Manager")
    return {
        "id": spec["id"],
        "zuid": spec.get("zuid", str(800_000_000 + int(spec["id"][-6:]))),
        "first_name": spec["first_name"],
        "last_name": spec["last_name"],
        "full_name": full_name,
        "email": spec["email"],
        "status": spec.get("status", "active"),
        "confirm": True,
        "role": {"name": role, "id": f"{prefix}{'000000026005' if role == 'CEO' else '000000026011'}"},
        "profile": {
            "name": profile,
            "id": f"{prefix}{'000000015972' if profile == 'Administrator' else '000000015975'}",
        },
        "type__s": "Regular User",
        "category": "regular_user",
        "locale": "en_US",
        "language": "en_US",
        "country_locale": "en_US",
        "country": "US",
        # no `time_zone`: v2 answered a string, v8's users.json types it as an object and its example omits it
        "offset": -18_000_000,
        "time_format": "hh:mm a",
        "date_format": "MMM d, yyyy",
        "decimal_separator": "Period",
        "name_format__s": "Salutation,First Name,Last Name",
        "sort_order_preference__s": "First Name,Last Name",
        "alias": None,
        "phone": None,
        "mobile": None,
        "fax": None,
        "website": None,
        "street": None,
        "city": None,
        "state": None,
        "zip": None,
        "dob": None,
        "signature": None,
        "status_reason__s": None,
        "Reporting_To": None,
        "Currency": "USD",
        "microsoft": False,
        "personal_account": False,
        "sandboxDeveloper": False,
        "Isonline": False,
        "default_tab_group": "0",
        "created_by": {"name": creator["full_name"], "id": creator["id"]},
        # users.json's `owner` schema wants first and last names here (its example omits them)
        "Modified_By": {
            "name": creator["full_name"],
            "id": creator["id"],
            "first_name": (admin or spec)["first_name"],
            "last_name": (admin or spec)["last_name"],
        },
        "created_time": f"2023-0{1 + number % 9}-1{number % 10}T09:30:00-05:00",
        "Modified_Time": f"2024-0{1 + number % 9}-0{1 + number % 9}T16:45:10-05:00",
    }


def scope_covers(granted: str, required: str) -> bool:
    granted_parts = granted.lower().split(".")
    required_parts = required.lower().split(".")
    if len(granted_parts) < 2 or len(required_parts) < 2 or granted_parts[0] != required_parts[0]:
        return False
    granted_groups, granted_op = granted_parts[1:-1], granted_parts[-1]
    required_groups, required_op = required_parts[1:-1], required_parts[-1]
    if required_groups[: len(granted_groups)] != granted_groups:
        return False
    return granted_op in ("all", required_op) or (
        granted_op == "write" and required_op in ("create", "update", "delete")
    )


def scopes_allow(granted: tuple[str, ...], required: str | tuple[str, ...] | None) -> bool:
    if not required:
        return True
    needed = (required,) if isinstance(required, str) else required
    return all(any(scope_covers(scope, need) for scope in granted) for need in needed)


def module_scope(module: str, operation: str) -> str:
    """The per-module scope Zoho checks, e.g. ZohoCRM.modules.leads.READ (ZohoCRM.modules.ALL covers it)."""
    return f"ZohoCRM.modules.{module.lower()}.{operation}"


@dataclass
class ZohoOrg:
    org_id: str
    name: str
    sandbox: SandboxState
    prefix: str = "4150868"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> Zoho user JSON
    modules: dict[str, RecordStore] = field(default_factory=dict)  # api name -> store
    fields: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # api name -> field metadata list
    ids: IdSequence = field(default_factory=IdSequence)
    admin_user_id: str = ""
    time_zone: str = ORG_TIME_ZONE
    page_tokens: CursorBook = field(default_factory=CursorBook)  # Get Records page_token -> its cursor
    details: dict[str, Any] = field(default_factory=dict)  # GET /org extras (company details)
    # Validation rules an admin set up: module -> {field: the rule's alert message}; an API write that sets the
    # field is refused (validation.py, the control API's validation-rules).
    validation_rules: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.credits = RollingWindow(24 * 3600, now=self.sandbox.clock.timestamp)  # the rolling 24 h pool
        self.gate = ConcurrencyGate(lambda: self.sandbox.config.concurrency_limit)

    @property
    def in_flight(self) -> int:
        return self.gate.in_flight

    @property
    def tz(self):
        return fixed_offset(self.sandbox.config.org_utc_offset_hours)

    def now(self) -> datetime:
        return self.sandbox.clock.now()

    def module(self, api_name: str) -> RecordStore | None:
        return self.modules.get(api_name)

    def module_named(self, name: str) -> RecordStore | None:
        """A module by API name, compared case-insensitively as Zoho's URLs do."""
        for api_name, store in self.modules.items():
            if api_name.lower() == (name or "").lower():
                return store
        return None

    def add_module(self, api_name: str, fields_metadata: list[dict[str, Any]]) -> RecordStore:
        store = RecordStore(api_name, ids=self.ids, tz=self.tz, now=self.sandbox.clock.now)
        # Every change reaches notification channels and workflow rules (they decide whether it concerns them).
        store.listeners.append(lambda event: self.sandbox.crm.on_record_change(self, event))
        self.modules[api_name] = store
        self.fields[api_name] = fields_metadata
        store.unique_fields_set(
            {
                meta["api_name"]: str((meta.get("unique") or {}).get("casesensitive")).lower() == "true"
                for meta in fields_metadata
                if meta.get("unique")
            }
        )
        return store

    def user(self, user_id: str | None) -> dict[str, Any] | None:
        return self.users.get(str(user_id)) if user_id else None

    @property
    def admin(self) -> dict[str, Any]:
        return self.users[self.admin_user_id]

    def credits_used(self) -> int:
        return int(self.credits.used())

    def charge(self, credits: int) -> Response | None:
        """Spend credits from the rolling 24 h pool; a 429 when the pool cannot cover the call."""
        limit = self.sandbox.config.api_credits_per_day
        if not self.credits.take(credits, limit=limit):
            return zoho_error(
                "TOO_MANY_REQUESTS",
                "You have exceeded the maximum number of API credits allowed in the last 24 hours",
                status=429,
                details={"credits_limit": limit},
            )
        self.sandbox.counters[f"credits:{self.org_id}"] += credits
        return None

    def written(self, count: int = 1) -> None:
        """Tally records the API wrote (inserted, updated, upserted, deleted; refused ones are not): the counter
        `zoho.records_written:<org id>` tests and benchmarks read to count writes at the CRM."""
        if count:
            self.sandbox.counters[f"zoho.records_written:{self.org_id}"] += count

    @contextmanager
    def calling(self) -> Iterator[Response | None]:
        """Count a call in flight; yields a 429 instead when the org's concurrency limit is reached."""
        with self.gate.slot() as refused:
            if refused:
                yield zoho_error(
                    "TOO_MANY_REQUESTS",
                    "Too many concurrent requests",
                    status=429,
                    details={"concurrency_limit": self.gate.limit},
                )
            else:
                yield None


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

    def stores_of(self, module: str) -> list[RecordStore]:
        """The module's store in every org (fault actions act on all of them)."""
        return [store for org in self.orgs.values() if (store := org.module(module)) is not None]

    def on_record_change(self, org: ZohoOrg, event) -> None:
        self.watch.handle(org, event)
        self.workflows.handle(org, event)

    def create_org(
        self,
        org_id: str,
        name: str,
        users: list[dict[str, Any]] | tuple[dict[str, Any], ...],
        *,
        prefix: str,
        details: dict[str, Any] | None = None,
    ) -> ZohoOrg:
        """An org with its users (the first is the admin) and the modules Leads, Contacts, Accounts, Deals,
        Tasks and Notes, with their field metadata and no records."""
        from sandbox.zoho_crm import schema

        if org_id in self.orgs:
            raise ValueError(f"org {org_id} exists")
        org = ZohoOrg(org_id, name, self.sandbox, prefix=prefix, ids=OrgIdSequence(prefix))
        admin = None
        for number, spec in enumerate(users):
            user = make_user(prefix, spec, admin=admin, number=number)
            org.users[user["id"]] = user
            if admin is None:
                admin = user
                org.admin_user_id = user["id"]
        org.details = details or {}
        for module in schema.MODULES:
            org.add_module(module, schema.fields_for(module, prefix))
        self.orgs[org_id] = org
        return org

    def seed_world(self, name: str, *, seed: int, leads: int) -> None:
        from sandbox import worlds
        from sandbox.zoho_crm.seed import seed_org

        org = self.create_org(
            worlds.DEMO_ZOHO_ORG_ID,
            worlds.DEMO_ZOHO_ORG_NAME,
            worlds.DEMO_USERS,
            prefix="4150868",
            details={"primary_email": worlds.DEMO_USERS[0]["email"], "domain_name": "demofitness"},
        )
        if leads:
            seed_org(org, seed=seed, leads=leads)
        if name == "demo":
            # The demo organization's "new lead" workflow rule, as a Zoho admin would set it up (tenants/demo.py
            # gives the product the same token), so a lead added on the sandbox page reaches `make run`.
            url = self.sandbox.config.product_base_url.rstrip("/") + worlds.DEMO_LEAD_WEBHOOK_PATH
            self.workflows.add(org, {"url": url, "name": "Leadline: new lead"})

    def org_of_user(self, user_id: str) -> ZohoOrg | None:
        for org in self.orgs.values():
            if user_id in org.users:
                return org
        return None

    def authenticate(
        self, request: Request, *, scope: str | tuple[str, ...] | None = None
    ) -> tuple[ZohoOrg, dict] | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme != "Zoho-oauthtoken" or not token.strip():
            return zoho_error("AUTHENTICATION_FAILURE", "Authentication failed", status=401)
        resolved = self.sandbox.accounts.resolve(token.strip())
        if isinstance(resolved, str):
            return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
        org = self.orgs.get(resolved.org_id)
        if org is None:
            return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
        if not scopes_allow(resolved.scopes, scope):
            notes = request.path.lower().startswith("/crm/v8/notes")
            message = "invalid oauth scope to access this URL" if notes else "Unauthorized"
            return zoho_error("OAUTH_SCOPE_MISMATCH", message, status=401)
        return org, org.users.get(resolved.user_id) or org.admin
