"""The contract suite's harness for Dynamics 365: the sandbox's Dataverse emulator (the Web API under /dynamics/, Entra
ID on the sandbox's HTTPS listener, as msal needs an https authority). Each harness makes its own environment (a new
tenant, three people, Leadline's demo app consented with its application user) and a ProviderAccount of kind
dynamics pointing at it, with its connected DynamicsConnection.

The emulator runs in this process (SandboxServer), so the harness drives it through its state (`DataverseEnvironment`
below: people's edits, deletes, seeding, reads of what Dataverse holds) and the kit's faults, as a person in the
environment would act; the provider under test only ever speaks HTTP to it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from django.test import override_settings

from sandbox.kit.faults import FaultAction
from studios.models import ProviderAccount
from tests.crm.harness import ContractHarness
from tests.crm.harness_hubspot import SandboxSleep, control

LEAD = "lead"
# Canonical objects -> Dataverse's tables (the provider's object_names for the objects two-way sync links).
TABLES = {"lead": "lead", "contact": "contact", "account": "account", "deal": "opportunity"}
# The Web API's write paths of the environment's tables and $batch (what `fail_writes` fails).
WRITE_METHODS = ("POST", "PATCH", "DELETE")
EDIT_ACTION = "dv_edit_records"  # the sandbox's fault action: people edit rows of a table while a sync pages
THROTTLED = ("0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds.")


class DataverseEnvironment:
    """One emulated environment, acted on as its people would: rows created, edited, stamped, deleted, read."""

    def __init__(self, server: Any, *, name: str, organization_name: str = "Peak Performance Gyms", **options: Any):
        self.server = server
        self.dynamics = server.state.dynamics
        self.environment = self.dynamics.create_environment(name, organization_name=organization_name, **options)
        self.name = self.environment.name
        self.url = self.environment.url

    # --- who ---------------------------------------------------------------------------------------------------
    @property
    def organization_id(self) -> str:
        return self.environment.organization_id

    @property
    def tenant_id(self) -> str:
        return self.environment.tenant_id

    @property
    def users(self) -> list[dict[str, Any]]:
        """The environment's people (system users that are no application user), in creation order."""
        rows = [row for row in self.environment.rows("systemuser") if not row.get("applicationid")]
        return sorted(rows, key=lambda row: (row["createdon"], row["systemuserid"]))

    @property
    def application_user_id(self) -> str:
        from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

        user = self.environment.application_user(DEMO_DV_CLIENT_ID)
        return str(user["systemuserid"]) if user else ""

    def person(self) -> str:
        return str(self.users[0]["systemuserid"])

    # --- the clock ---------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.server.state.clock.now()

    def advance(self, seconds: float) -> datetime:
        return self.server.state.clock.advance(seconds)

    # --- rows ----------------------------------------------------------------------------------------------------
    def seed(self, table: str, count: int, **options: Any) -> list[str]:
        from sandbox.dynamics.seed import seed_rows

        return [str(row_id) for row_id in seed_rows(self.environment, table, count, **options)]

    def create(self, table: str, values: Mapping[str, Any], *, at: datetime | None = None) -> str:
        row = self.environment.create(table, dict(values), by=self.person(), at=at)
        return str(row[self.environment.tables[table].primary_id])

    def update(self, table: str, row_id: str, values: Mapping[str, Any], *, at: datetime | None = None) -> None:
        self.environment.update(table, row_id, dict(values), by=self.person(), at=at)

    def delete(self, table: str, row_id: str) -> None:
        self.environment.delete(table, row_id, by=self.person())

    def stored(self, table: str, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
        """Values as a person sets them in the app (Web API JSON; a lookup by its row id), as Dataverse stores them."""
        from sandbox.dynamics.control import stored_values

        return stored_values(self.environment, self.environment.tables[table], dict(values), creating=creating)

    def backdate(self, table: str, ids: list[str], modifiedon: datetime) -> int:
        return self.environment.backdate(table, ids, modifiedon)

    def row(self, table: str, row_id: str) -> dict[str, Any] | None:
        found = self.environment.row(table, row_id)
        return dict(found) if found is not None else None

    def rows(self, table: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.environment.rows(table)]

    def ids(self, table: str) -> list[str]:
        key = self.environment.tables[table].primary_id
        return sorted(str(row[key]) for row in self.environment.rows(table))

    def regarding(self, table: str, record_id: str) -> list[dict[str, Any]]:
        """Activity rows (tasks, lh_sms) regarding a record, oldest first."""
        found = [row for row in self.rows(table) if str(row.get("regardingobjectid") or "").lower() == record_id]
        return sorted(found, key=lambda row: (row.get("createdon"), row.get("versionnumber") or 0))

    # --- change tracking ---------------------------------------------------------------------------------------
    def tracking(self, table: str, enabled: bool) -> None:
        self.environment.tables[table].change_tracking = enabled

    def expire_change_tokens(self) -> None:
        with self.environment.lock:
            self.environment.token_floor_version = self.environment.next_version()  # the next token is valid

    # --- access ------------------------------------------------------------------------------------------------
    def revoke_consent(self) -> None:
        """The tenant's admin removes Leadline's app: no token is issued for it any more, and those issued die."""
        from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

        tenant = self.dynamics.tenant(self.tenant_id)
        tenant.service_principals.pop(DEMO_DV_CLIENT_ID, None)
        self.dynamics.revoke_all()


def account_for(
    organization: Any, environment: DataverseEnvironment, *, connected: bool = True, **overrides: Any
) -> ProviderAccount:
    """A ProviderAccount of kind dynamics on the sandbox (Entra's host: the HTTPS listener; the environment URL), with
    its DynamicsConnection: connected (tenant, organization id, application user) when `connected`, else none."""
    from crm.providers.dynamics.conf import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from crm.providers.dynamics.models import DynamicsConnection

    values = {
        "organization": organization,
        "name": "peak-dynamics",
        "kind": "dynamics",
        "is_default": True,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "accounts_url": environment.server.state.public_urls["tls"],
        "api_domain": environment.url,
        "custom_endpoints": True,  # an operator pointed it at the sandbox
    }
    values.update(overrides)
    account = ProviderAccount.objects.create(**values)
    if connected:
        DynamicsConnection.unscoped_objects.update_or_create(
            account=account,
            defaults={
                "organization": organization,
                "state": DynamicsConnection.State.CONNECTED,
                "tenant_id": environment.tenant_id,
                "environment_url": environment.url,
                "org_id": environment.organization_id,
                "organization_name": environment.environment.organization_name,
                "application_user_id": environment.application_user_id,
            },
        )
    return account


def tls_settings(server: Any) -> override_settings:
    """Entra's login host and the CA that signed its certificate: the sandbox's HTTPS listener."""
    return override_settings(DYNAMICS_LOGIN_URL=server.tls_url, DYNAMICS_CA_BUNDLE=server.ca_path)


def leads_path(environment: DataverseEnvironment) -> str:
    """The kit's fault path for the environment's lead collection (reads of changes), not its metadata."""
    return rf"^/dynamics/{environment.name}/api/data/v9\.2/leads(\?|$)"


def edit_rows_action(server: Any) -> FaultAction:
    """The sandbox's "dv_edit_records" action (sandbox/state.py: people edit the first `count` rows of `table` while
    a sync pages); it is always registered, this gives it to tests that register it again."""
    return server.state.faults.actions[EDIT_ACTION]


def with_tls(server: Any) -> Any:
    """For a sandbox served without TLS (the demo world's `sandbox` fixture): the same application served also over
    HTTPS by a second SandboxServer (the same state), with the login host and its CA in the settings, both undone
    when the fixture stops the sandbox. A test that needs no demo world takes the `tls_sandbox` fixture instead
    (tests/conftest.py: one server, both listeners)."""
    from sandbox.server import SandboxServer

    secure = SandboxServer(app=server.app, tls=True).start()
    overridden = tls_settings(secure)
    overridden.enable()
    stop = server.stop

    def stop_both() -> None:
        try:
            secure.stop()
            stop()
        finally:
            overridden.disable()

    server.stop = stop_both
    return secure


class Harness(ContractHarness):
    kind = "dynamics"
    sandbox_fixture = "tls_sandbox"  # Entra's stand-in on its HTTPS listener, the login host set (tests/conftest.py)
    opt_out_field = "lh_smsoptout"
    phone_field = "telephone1"
    last_name_field = "lastname"

    def __init__(self, *, server: Any, organization: Any) -> None:
        super().__init__(server=server, organization=organization)
        self.sleep = SandboxSleep(server)
        self.dv = DataverseEnvironment(server, name="peakfit")

    def make_connection(self) -> Any:
        account = account_for(self.organization, self.dv)
        connection = account.dynamics_connection
        connection.opt_out_column = self.opt_out_field
        connection.save(update_fields=["opt_out_column"])
        return account

    def expected_identity(self) -> Mapping[str, Any]:
        return {"org_id": self.dv.organization_id, "user_ids": [self.dv.application_user_id]}

    def unconnected(self) -> tuple[Any, str]:
        environment = DataverseEnvironment(
            self.server, name="contractfit", organization_name="Contract Gyms", consent=False
        )
        self._consenting = environment
        account = account_for(self.organization, environment, connected=False, name="contract-crm", is_default=False)
        return account, environment.organization_id

    def consent(self, authorize_url: str) -> dict[str, str]:
        """An admin of the consenting tenant grants the app on Entra's consent page; the redirect's parameters. Its
        application user is created in the environment too (the admin's next step, docs/crm/dynamics.md)."""
        from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

        environment = self._consenting
        tenant = self.server.state.dynamics.tenant(environment.tenant_id)
        admin = next(user for user in tenant.users.values() if user.admin)
        answer = requests.get(
            authorize_url,
            params={"_sandbox_admin": admin.object_id},
            allow_redirects=False,
            timeout=10,
            verify=self.server.ca_path,
        )
        assert answer.status_code in (302, 303), answer.text[:2000]
        self.server.state.dynamics.add_application_user(environment.environment, DEMO_DV_CLIENT_ID)
        return {name: values[0] for name, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def revoke_access_tokens(self) -> None:
        self.server.state.dynamics.revoke_all()

    def revoke_grant(self) -> None:
        self.dv.revoke_consent()

    # --- data -------------------------------------------------------------------------------------------------
    def seed_leads(self, count: int) -> list[str]:
        return self.dv.seed(LEAD, count)

    def stamp_together(self, ids: list[str], *, values: Mapping[str, Any]) -> datetime:
        # One modifiedon for all (a bulk edit), a second after everything seeded (Dataverse keeps whole seconds).
        moment = self.dv.advance(1.0).replace(microsecond=0) + timedelta(seconds=1)
        for record_id in ids:
            self.dv.update(LEAD, record_id, values, at=moment)
        return moment

    def create_lead(self, *, last_name: str, phone: str) -> str:
        return self.dv.create(LEAD, {"lastname": last_name, "telephone1": phone})

    def edit(self, record_id: str, values: Mapping[str, Any]) -> None:
        self.dv.advance(1.0)  # a second later: the edit's modifiedon lands after what was read
        self.dv.update(LEAD, record_id, values)

    def delete(self, record_id: str) -> None:
        self.dv.delete(LEAD, record_id)

    def read(self, record_id: str) -> Mapping[str, Any]:
        return self.dv.row(LEAD, record_id) or {}

    def owner_id(self) -> str:
        users = self.dv.users
        return str(users[1]["systemuserid"] if len(users) > 1 else users[0]["systemuserid"])

    def tasks_on(self, record_id: str) -> list[dict[str, str]]:
        return [
            {"subject": str(task.get("subject") or ""), "owner_id": str(task.get("ownerid") or "")}
            for task in self.dv.regarding("task", record_id)
        ]

    def activities_on(self, record_id: str) -> list[dict[str, str]]:
        """Completed tasks (the connection's default timeline activity) on the lead, oldest first."""
        from sandbox.dynamics.seed_tables import STATES

        states = dict(STATES["task"])
        return [
            {
                "subject": str(task.get("subject") or ""),
                "status": states.get(task.get("statecode"), ""),
                "description": str(task.get("description") or ""),
            }
            for task in self.dv.regarding("task", record_id)
        ]

    # --- faults -----------------------------------------------------------------------------------------------
    def fail_reads(self, *, status: int, times: int) -> None:
        """The next reads of leads answer `status`; a 429 as service protection answers it, its Retry-After
        growing while the client keeps asking (1, 2, 4 ... seconds)."""
        path = leads_path(self.dv)
        if status != 429:
            control(self.server, "POST", "faults", {"path": path, "method": "GET", "status": status, "times": times})
            return
        code, message = THROTTLED
        body = {"error": {"code": code, "message": message}}
        for attempt in range(times or 1):
            wait = str(2**attempt)
            rule = {"path": path, "method": "GET", "status": 429, "body": body, "headers": {"Retry-After": wait}}
            control(self.server, "POST", "faults", {**rule, "times": 1 if times else 0})

    def edit_while_paging(self, *, after_pages: int, count: int) -> None:
        rule = {"path": leads_path(self.dv), "method": "GET", "after": after_pages, "action": EDIT_ACTION}
        control(self.server, "POST", "faults", {**rule, "table": LEAD, "count": count})

    # --- two-way sync ---------------------------------------------------------------------------------------------
    external_id_field = "lh_leadlineid"  # a text column with an alternate key (lh_leadlineid_key) on it

    def create_record(self, object: str, values: Mapping[str, Any]) -> str:
        table = TABLES[object]
        return self.dv.create(table, self.dv.stored(table, values, creating=True))

    def edit_record(self, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        table = TABLES[object]
        self.dv.advance(1.0)  # a second later: Dataverse keeps whole seconds
        self.dv.update(table, record_id, self.dv.stored(table, values, creating=False))

    def delete_record(self, object: str, record_id: str) -> None:
        self.dv.delete(TABLES[object], record_id)

    def read_record(self, object: str, record_id: str) -> Mapping[str, Any] | None:
        return self.dv.row(TABLES[object], record_id)

    def record_ids(self, object: str) -> list[str]:
        return self.dv.ids(TABLES[object])

    def records_written(self) -> int:
        from sandbox.dynamics.rules import TALLY

        return int(self.server.state.counters[TALLY])

    def refuse_writes(self, object: str, *, field: str, message: str) -> None:
        """A plug-in on the table throwing InvalidPluginExecutionException(message) when a write sets `field`."""
        from sandbox.dynamics.rules import refuse

        refuse(self.dv.environment, TABLES[object], field, message)

    def allow_writes(self, object: str) -> None:
        from sandbox.dynamics.rules import allow

        allow(self.dv.environment, TABLES[object])

    def fail_writes(self, *, status: int, times: int) -> None:
        """The next `times` Web API writes (creates, updates, upserts, deletes, $batch calls) of each method answer
        `status`; a 429 with service protection's body and Retry-After."""
        path = rf"^/dynamics/{self.dv.name}/api/data/v9\.2/(?!EntityDefinitions|RelationshipDefinitions)"
        rule: dict[str, Any] = {"path": path, "status": status, "times": times}
        if status == 429:
            code, message = THROTTLED
            rule |= {"body": {"error": {"code": code, "message": message}}, "headers": {"Retry-After": "1"}}
        for method in WRITE_METHODS:
            control(self.server, "POST", "faults", {**rule, "method": method})
