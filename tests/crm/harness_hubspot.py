"""The contract suite's harness for HubSpot: the sandbox's HubSpot emulator (under /hubspot/ on the sandbox host),
driven through its control API (`/_sandbox/hubspot/...`). Each harness makes its own portal (a fresh one per test)
with the demo app installed, and a ProviderAccount of kind hubspot pointing at the sandbox, with its connected
HubSpotConnection (the portal's hub id, the installing user's owner id).

Leadline's lead on HubSpot is a contact: the harness's leads are contacts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from crm.providers.hubspot.activities import activity_text
from crm.providers.hubspot.mapping import parse_datetime
from studios.models import ProviderAccount
from tests.crm.harness import ContractHarness, SleepRecorder

CONTACTS = "contacts"
# Faults match the request path: searches of contacts on either path family.
SEARCH_PATH = r"^/hubspot/crm/(v3/objects|objects/[0-9]{4}-[0-9]{2})/contacts/search"
BOOLEAN_PROPERTIES = ("leadline_sms_opt_out",)
# Canonical objects as HubSpot's object types (Leadline's lead on HubSpot is a contact).
OBJECT_TYPES = {"lead": "contacts", "contact": "contacts", "account": "companies", "deal": "deals", "task": "tasks"}
# API calls that write records, on either path family: creates and batch writes (POST), updates (PATCH), archives.
OBJECTS_PATH = r"^/hubspot/crm/(v3/objects|objects/[0-9]{4}-[0-9]{2})/[^/]+"
WRITE_FAULTS = (
    ("POST", OBJECTS_PATH + r"(/batch/(create|update|upsert|archive))?$"),
    ("PATCH", OBJECTS_PATH + r"/[^/]+$"),
    ("DELETE", OBJECTS_PATH + r"/[^/]+$"),
)


def control(server: Any, method: str, path: str, body: Any = None, **params: Any) -> Any:
    """Call the sandbox's control API (`path` under /_sandbox/)."""
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, params=params or None, timeout=120)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:2000]}"
    return response.json() if response.content else None


def sandbox_now(server: Any) -> datetime:
    return datetime.fromisoformat(control(server, "GET", "clock")["now"])


def sandbox_advance(server: Any, seconds: float) -> datetime:
    return datetime.fromisoformat(control(server, "POST", "clock", {"advance_seconds": seconds})["now"])


class SandboxSleep(SleepRecorder):
    """Stands in for time.sleep in the client's waits: records them and moves the sandbox's clock by each, so the
    emulator's rate windows (search's five a second, the 10-second window) free as they would, without waiting."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        if seconds > 0:
            sandbox_advance(self.server, seconds)


class HubSpotPortal:
    """One emulated portal seen through the control API: installs, seeding, edits, archives, reads."""

    def __init__(self, server: Any, *, name: str = "Peak Test Portal", owner_count: int = 3, **options: Any) -> None:
        self.server = server
        self.portal = control(server, "POST", "hubspot/portals", {"name": name, "owner_count": owner_count, **options})
        self.portal_id = str(self.portal["portal_id"])

    def call(self, method: str, path: str = "", body: Any = None, **params: Any) -> Any:
        return control(self.server, method, f"hubspot/portals/{self.portal_id}{path}", body, **params)

    def summary(self) -> dict[str, Any]:
        return self.call("GET")

    def owners(self) -> list[dict[str, Any]]:
        summary = self.summary()
        return list(summary.get("owners") or self.portal.get("owners") or [])

    def install(self, **body: Any) -> dict[str, Any]:
        """The demo app installed by the portal's first owner: {refresh_token, access_token, hub_id, user_id}."""
        return self.call("POST", "/installs", body)

    def seed(self, count: int, *, object_type: str = CONTACTS, **options: Any) -> list[str]:
        """`count` seeded records (realistic; direct writes, no webhooks); their ids in id order."""
        answer = self.call("POST", "/seed", {"object_type": object_type, "count": count, **options})
        if not answer["count"]:
            return []
        first, last = int(answer["first_id"]), int(answer["last_id"])
        return [record_id for record_id in self.ids(object_type) if first <= int(record_id) <= last]

    def ids(self, object_type: str = CONTACTS, *, archived: bool = False) -> list[str]:
        params = {"limit": 1_000_000, **({"archived": "true"} if archived else {})}
        answer = self.call("GET", f"/records/{object_type}", **params)
        return sorted((str(record["id"]) for record in answer["results"]), key=int)

    def create(self, object_type: str, properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return self.call("POST", f"/records/{object_type}", {"properties": dict(properties), **extra})

    def update(self, object_type: str, record_id: str, properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return self.call("PATCH", f"/records/{object_type}/{record_id}", {"properties": dict(properties), **extra})

    def edit(self, object_type: str, ids: list[str], properties: Mapping[str, Any], *, at: datetime) -> None:
        """People edit records at one moment (one modified time for all)."""
        body = {"object_type": object_type, "ids": ids, "properties": dict(properties), "at": at.isoformat()}
        self.call("POST", "/edit", body)

    def stamp(self, object_type: str, ids: list[str] | None, *, at: datetime, notify: bool = False) -> int:
        """ONE modified time for many records (HubSpot's own batch updates), nothing else changed."""
        body: dict[str, Any] = {"object_type": object_type, "at": at.isoformat(), "notify": notify}
        if ids is not None:
            body["ids"] = ids
        return int(self.call("POST", "/stamp", body)["stamped"])

    def archive(self, object_type: str, record_id: str) -> None:
        self.call("DELETE", f"/records/{object_type}/{record_id}")

    def read(self, object_type: str, record_id: str) -> dict[str, Any]:
        """The record as the emulator holds it: {id, properties, createdAt, updatedAt, associations: {type: [...]}}."""
        return self.call("GET", f"/records/{object_type}/{record_id}")

    def associated(self, object_type: str, record_id: str, to_type: str) -> list[str]:
        linked = (self.read(object_type, record_id).get("associations") or {}).get(to_type) or []
        return [str(item["id"] if isinstance(item, Mapping) else item) for item in linked]


def account_for(
    organization: Any, server: Any, portal: HubSpotPortal, install: Mapping[str, Any] | None, **overrides: Any
) -> ProviderAccount:
    """A ProviderAccount of kind hubspot on the sandbox, with its HubSpotConnection: connected (the install's refresh
    token, the portal's hub id, the installing user's owner id) when `install` is given, else not connected."""
    from crm.providers.hubspot.conf import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from crm.providers.hubspot.models import HubSpotConnection

    values = {
        "organization": organization,
        "name": "peak-hubspot",
        "kind": "hubspot",
        "is_default": True,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": (install or {}).get("refresh_token") or "",
        "accounts_url": server.url,
        "api_domain": server.url,
        "custom_endpoints": True,  # an operator pointed it at the sandbox
    }
    values.update(overrides)
    account = ProviderAccount.objects.create(**values)
    if install:
        user_id = str(install.get("user_id") or "")
        owner = next((o for o in portal.owners() if str(o.get("userId")) == user_id), {})
        HubSpotConnection.unscoped_objects.update_or_create(
            account=account,
            defaults={
                "organization": organization,
                "state": "connected",
                "hub_id": portal.portal_id,
                "user_id": user_id,
                "owner_id": str(owner.get("id") or ""),
                "user_email": str(owner.get("email") or ""),
                "app_id": str(install.get("app_id") or ""),
                "scopes": " ".join(install.get("scopes") or []),
            },
        )
    return account


def fail_writes(server: Any, *, status: int, times: int) -> None:
    """The next `times` creates and batch writes (POST), updates (PATCH) and archives (DELETE) each answer `status`
    (one kit fault rule per method: HubSpot's GETs share the PATCH and DELETE paths); 0 means every one."""
    for method, path in WRITE_FAULTS:
        control(server, "POST", "faults", {"path": path, "method": method, "status": status, "times": times})


class Harness(ContractHarness):
    kind = "hubspot"
    sandbox_fixture = "empty_sandbox"
    opt_out_field = "leadline_sms_opt_out"
    phone_field = "phone"
    last_name_field = "lastname"

    def __init__(self, *, server: Any, organization: Any) -> None:
        super().__init__(server=server, organization=organization)
        self.sleep = SandboxSleep(server)
        self.hs = HubSpotPortal(server)
        self.install = self.hs.install()

    def make_connection(self) -> Any:
        return account_for(self.organization, self.server, self.hs, self.install)

    def expected_identity(self) -> Mapping[str, Any]:
        return {"org_id": self.hs.portal_id, "user_ids": [str(owner["id"]) for owner in self.hs.owners()]}

    def unconnected(self) -> tuple[Any, str]:
        portal = HubSpotPortal(self.server, name="Contract Portal")
        self._consenting = portal
        account = account_for(self.organization, self.server, portal, None, name="contract-crm", is_default=False)
        return account, portal.portal_id

    def consent(self, authorize_url: str) -> dict[str, str]:
        portal = self._consenting
        user = str(portal.owners()[0]["userId"])
        choice = {"_sandbox_portal": portal.portal_id, "_sandbox_user": user}
        answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.text[:2000]
        return {name: values[0] for name, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def revoke_access_tokens(self) -> None:
        control(self.server, "POST", "hubspot/tokens/revoke", {})

    def revoke_grant(self) -> None:
        control(self.server, "POST", "hubspot/tokens/revoke", {"refresh_token": self.install["refresh_token"]})

    # --- data -------------------------------------------------------------------------------------------------
    def seed_leads(self, count: int) -> list[str]:
        return self.hs.seed(count)

    def stamp_together(self, ids: list[str], *, values: Mapping[str, Any]) -> datetime:
        # One lastmodifieddate for all, as HubSpot's own batch updates give them; after everything seeded.
        moment = sandbox_advance(self.server, 1.0).replace(microsecond=0) + timedelta(seconds=1)
        self.hs.edit(CONTACTS, ids, values, at=moment)
        return moment

    def create_lead(self, *, last_name: str, phone: str) -> str:
        return str(self.hs.create(CONTACTS, {"lastname": last_name, "phone": phone})["id"])

    def edit(self, record_id: str, values: Mapping[str, Any]) -> None:
        sandbox_advance(self.server, 0.01)  # milliseconds: the edit lands after what was read
        self.hs.update(CONTACTS, record_id, values)

    def delete(self, record_id: str) -> None:
        self.hs.archive(CONTACTS, record_id)

    def read(self, record_id: str) -> Mapping[str, Any]:
        properties = dict(self.hs.read(CONTACTS, record_id)["properties"])
        for name in BOOLEAN_PROPERTIES:  # HubSpot holds booleans as "true"/"false"
            if properties.get(name) in ("true", "false"):
                properties[name] = properties[name] == "true"
        return properties

    def owner_id(self) -> str:
        owners = self.hs.owners()
        return str(owners[1]["id"] if len(owners) > 1 else owners[0]["id"])

    def tasks_on(self, record_id: str) -> list[dict[str, str]]:
        tasks = [self.hs.read("tasks", task_id) for task_id in self.hs.associated(CONTACTS, record_id, "tasks")]
        return [
            {
                "subject": task["properties"].get("hs_task_subject") or "",
                "owner_id": str(task["properties"].get("hubspot_owner_id") or ""),
            }
            for task in tasks
        ]

    def activities_on(self, record_id: str) -> list[dict[str, str]]:
        """Communications (the connection's default timeline activity) on the contact, oldest first."""
        found = []
        for item_id in self.hs.associated(CONTACTS, record_id, "communications"):
            properties = self.hs.read("communications", item_id)["properties"]
            subject, description = activity_text(properties.get("hs_communication_body") or "")
            logged = properties.get("hs_communication_logged_from") == "CRM"
            moment = parse_datetime(properties.get("hs_timestamp") or properties.get("hs_createdate"))
            found.append(
                (
                    moment,
                    int(item_id),
                    {"subject": subject, "status": "Completed" if logged else "", "description": description},
                )
            )
        return [entry for _, _, entry in sorted(found, key=lambda item: item[:2])]

    # --- faults -----------------------------------------------------------------------------------------------
    def fail_reads(self, *, status: int, times: int) -> None:
        control(self.server, "POST", "faults", {"path": SEARCH_PATH, "status": status, "times": times})

    def edit_while_paging(self, *, after_pages: int, count: int) -> None:
        rule = {"path": SEARCH_PATH, "after": after_pages, "action": "hs_edit_records", "object_type": CONTACTS}
        control(self.server, "POST", "faults", {**rule, "count": count})

    def fail_writes(self, *, status: int, times: int) -> None:
        fail_writes(self.server, status=status, times=times)

    # --- two-way sync -------------------------------------------------------------------------------------------
    external_id_field = "leadline_id"  # the portal's unique-value property (control API: external_id_property)

    def create_record(self, object: str, values: Mapping[str, Any]) -> str:
        return str(self.hs.create(OBJECT_TYPES[object], values)["id"])

    def edit_record(self, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        sandbox_advance(self.server, 0.01)  # milliseconds: the edit lands after what was read
        self.hs.update(OBJECT_TYPES[object], record_id, values)

    def delete_record(self, object: str, record_id: str) -> None:
        self.hs.archive(OBJECT_TYPES[object], record_id)

    def read_record(self, object: str, record_id: str) -> Mapping[str, Any] | None:
        path = f"{self.server.url}/_sandbox/hubspot/portals/{self.hs.portal_id}/records/{OBJECT_TYPES[object]}"
        answer = requests.get(f"{path}/{record_id}", timeout=60)
        if answer.status_code == 404:
            return None
        assert answer.status_code < 400, answer.text[:2000]
        record = answer.json()
        return None if record.get("archived") else dict(record["properties"])

    def record_ids(self, object: str) -> list[str]:
        return self.hs.ids(OBJECT_TYPES[object])

    def records_written(self) -> int:
        return int(control(self.server, "GET", "counters").get(f"hubspot.records_written:{self.hs.portal_id}", 0))

    def refuse_writes(self, object: str, *, field: str, message: str) -> None:
        body = {"object_type": OBJECT_TYPES[object], "property": field, "message": message}
        self.hs.call("POST", "/validation-rules", body)

    def allow_writes(self, object: str) -> None:
        self.hs.call("DELETE", "/validation-rules", {"object_type": OBJECT_TYPES[object]})
