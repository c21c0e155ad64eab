"""The contract suite's harness for Salesforce: the sandbox's Salesforce emulator, driven through its control API
(`/_sandbox/salesforce/...`). Each harness makes its own org on the sandbox (a fresh one per test), and a
ProviderAccount of kind salesforce pointing at it (the sandbox is the login host, the org's instance_url the API)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from crm.providers.salesforce import oauth_flow
from crm.providers.salesforce.mapping import parse_datetime
from studios.models import ProviderAccount
from tests.crm.harness import ContractHarness

QUERY_PATH = r"^/services/data/v[0-9.]+/query"
# The calls that write records: sObject rows and sObject Collections (not describe or getUpdated/getDeleted, which
# share the prefix).
WRITE_PATH = (
    r"^/services/data/v[0-9.]+/(composite/sobjects(/[^/]+/[^/]+)?"
    r"|sobjects/[^/]+(/(?!describe$|updated/?$|deleted/?$)[^/]+(/.+)?)?)$"
)
SOBJECTS = {"lead": "Lead", "contact": "Contact", "account": "Account", "deal": "Opportunity", "task": "Task"}


def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    """Call the sandbox's control API (`path` under /_sandbox/)."""
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=120)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def org_create(server: Any, *, name: str = "Summit Test Org", **options: Any) -> dict[str, Any]:
    """A new emulated org (its users, connected app and a ready refresh token for its first user)."""
    body = {"name": name, "redirect_uris": [oauth_flow.redirect_uri()], **options}
    return control(server, "POST", "salesforce/orgs", body)


def account_for(organization: Any, server: Any, org: Mapping[str, Any], **overrides: Any) -> ProviderAccount:
    """A ProviderAccount of kind salesforce for an emulated org, connected (its ready refresh token)."""
    values = {
        "organization": organization,
        "name": "summit-salesforce",
        "kind": "salesforce",
        "is_default": True,
        "client_id": org["client_id"],
        "client_secret": org["client_secret"],
        "refresh_token": org.get("refresh_token") or "",
        "accounts_url": server.url,
        "api_domain": org.get("instance_url") or server.url,
        "custom_endpoints": True,  # an operator pointed it at the sandbox
    }
    values.update(overrides)
    return ProviderAccount.objects.create(**values)


class SalesforceOrg:
    """One emulated org seen through the control API: seeding, edits, deletes, reads."""

    def __init__(self, server: Any, org: Mapping[str, Any]) -> None:
        self.server = server
        self.org = dict(org)
        self.org_id = str(org["org_id"])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return control(self.server, method, f"salesforce/orgs/{self.org_id}{path}", body)

    def settings(self, **values: Any) -> None:
        self.call("PATCH", "", values)

    def seed(self, sobject: str, count: int, *, seed: int = 7, **options: Any) -> list[str]:
        return list(self.call("POST", "/seed", {"sobject": sobject, "count": count, "seed": seed, **options})["ids"])

    def insert(self, sobject: str, records: list[dict[str, Any]]) -> list[str]:
        return list(self.call("POST", f"/records/{sobject}", {"records": records})["ids"])

    def update(self, sobject: str, ids: list[str], values: Mapping[str, Any], **options: Any) -> datetime | None:
        answer = self.call("PATCH", f"/records/{sobject}", {"ids": ids, "values": dict(values), **options}) or {}
        return parse_datetime(answer["stamp"]) if answer.get("stamp") else None

    def delete(self, sobject: str, record_id: str) -> None:
        self.call("DELETE", f"/records/{sobject}/{record_id}")

    def read(self, sobject: str, record_id: str) -> dict[str, Any]:
        return self.call("GET", f"/records/{sobject}/{record_id}")

    def find(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """The row, deleted ones too; None when the org never had it."""
        path = f"_sandbox/salesforce/orgs/{self.org_id}/records/{sobject}/{record_id}"
        response = requests.get(f"{self.server.url}/{path}", timeout=30)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/records/{sobject}"))

    def tasks_on(self, record_id: str) -> list[dict[str, Any]]:
        answer = self.call("GET", f"/records/Task?WhoId={record_id}")
        return list(answer.get("records", answer) if isinstance(answer, dict) else answer)

    def users(self) -> list[dict[str, Any]]:
        return list(self.org["users"])


class Harness(ContractHarness):
    kind = "salesforce"
    sandbox_fixture = "empty_sandbox"
    opt_out_field = "SMS_Opt_Out__c"
    phone_field = "MobilePhone"
    last_name_field = "LastName"

    def __init__(self, *, server: Any, organization: Any) -> None:
        super().__init__(server=server, organization=organization)
        self.sf = SalesforceOrg(server, org_create(server))

    def make_connection(self) -> Any:
        return account_for(self.organization, self.server, self.sf.org)

    def expected_identity(self) -> Mapping[str, str]:
        return {"org_id": self.sf.org_id, "user_ids": [str(user["id"]) for user in self.sf.users()]}

    def unconnected(self) -> tuple[Any, str]:
        org = org_create(self.server, name="Contract Org")
        self._consenting_user = str(org["users"][0]["id"])
        account = account_for(
            self.organization, self.server, {**org, "refresh_token": ""}, name="contract-crm", is_default=False
        )
        return account, str(org["org_id"])

    def consent(self, authorize_url: str) -> dict[str, str]:
        choice = {"_sandbox_user": self._consenting_user}  # the new org's admin approves on the consent page
        answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), answer.text
        return {name: values[0] for name, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def revoke_access_tokens(self) -> None:
        self.sf.call("POST", "/revoke", {"what": "sessions"})

    def revoke_grant(self) -> None:
        self.sf.call("POST", "/revoke", {"what": "grant"})

    # --- data -------------------------------------------------------------------------------------------------
    def seed_leads(self, count: int) -> list[str]:
        return self.sf.seed("Lead", count)

    def stamp_together(self, ids: list[str], *, values: Mapping[str, Any]) -> datetime:
        # One SystemModstamp for all, as one of Salesforce's bulk updates gives them.
        self._tick()
        stamp = self.sf.update("Lead", ids, values)
        assert stamp is not None
        return stamp

    def create_lead(self, *, last_name: str, phone: str) -> str:
        return self.sf.insert("Lead", [{"LastName": last_name, "Company": "Contract Co", "MobilePhone": phone}])[0]

    def edit(self, record_id: str, values: Mapping[str, Any]) -> None:
        self._tick()  # SystemModstamp has whole seconds: the edit must land after what was read
        self.sf.update("Lead", [record_id], values)

    def _tick(self) -> None:
        control(self.server, "POST", "clock", {"advance_seconds": 1.01})

    def delete(self, record_id: str) -> None:
        self.sf.delete("Lead", record_id)

    def read(self, record_id: str) -> Mapping[str, Any]:
        return self.sf.read("Lead", record_id)

    def owner_id(self) -> str:
        users = self.sf.users()
        return str(users[1]["id"] if len(users) > 1 else users[0]["id"])

    def tasks_on(self, record_id: str) -> list[dict[str, str]]:
        return [
            {"subject": task.get("Subject") or "", "owner_id": str(task.get("OwnerId") or "")}
            for task in self.sf.tasks_on(record_id)
        ]

    def activities_on(self, record_id: str) -> list[dict[str, str]]:
        return [
            {
                "subject": task.get("Subject") or "",
                "status": task.get("Status") or "",
                "description": task.get("Description") or "",
            }
            for task in self.sf.tasks_on(record_id)
        ]

    # --- faults -----------------------------------------------------------------------------------------------
    def fail_reads(self, *, status: int, times: int) -> None:
        control(self.server, "POST", "faults", {"path": QUERY_PATH, "status": status, "times": times})

    def edit_while_paging(self, *, after_pages: int, count: int) -> None:
        rule = {"path": QUERY_PATH, "after": after_pages, "action": "sf_edit_records", "sobject": "Lead"}
        control(self.server, "POST", "faults", {**rule, "count": count})

    # --- bulk export (Bulk API 2.0) -----------------------------------------------------------------------------
    def hold_exports(self) -> None:
        self.sf.call("POST", "/bulk/hold", {"hold": True})

    def finish_export(self, job_id: str) -> None:
        control(self.server, "POST", f"salesforce/bulk/{job_id}/finish", {})

    def fail_export(self, job_id: str) -> None:
        control(self.server, "POST", f"salesforce/bulk/{job_id}/fail", {"message": "contract: the export failed"})

    def expire_export(self, job_id: str) -> None:
        control(self.server, "POST", f"salesforce/bulk/{job_id}/expire", {})

    # --- two-way sync ---------------------------------------------------------------------------------------
    external_id_field = "Leadline_Id__c"  # Text(64), External ID, Unique on Lead, Contact and Account

    def create_record(self, object: str, values: Mapping[str, Any]) -> str:
        sobject = SOBJECTS[object]
        self._tick()
        return self.sf.insert(sobject, [dict(values)])[0]

    def edit_record(self, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        self._tick()  # whole-second SystemModstamp: the edit lands after what was read
        self.sf.update(SOBJECTS[object], [record_id], values)

    def delete_record(self, object: str, record_id: str) -> None:
        self._tick()
        self.sf.delete(SOBJECTS[object], record_id)

    def read_record(self, object: str, record_id: str) -> Mapping[str, Any] | None:
        row = self.sf.find(SOBJECTS[object], record_id)
        return None if row is None or row.get("IsDeleted") else row

    def record_ids(self, object: str) -> list[str]:
        return [str(row["Id"]) for row in self.sf.rows(SOBJECTS[object])]

    def records_written(self) -> int:
        counters = control(self.server, "GET", "counters")
        return int(counters.get(f"salesforce.records_written:{self.sf.org_id}", 0))

    def refuse_writes(self, object: str, *, field: str, message: str) -> None:
        self.sf.call("POST", "/validation-rules", {"sobject": SOBJECTS[object], "field": field, "message": message})

    def allow_writes(self, object: str) -> None:
        self.sf.call("DELETE", f"/validation-rules?sobject={SOBJECTS[object]}")

    def fail_writes(self, *, status: int, times: int) -> None:
        # Any method: the provider reads rows by SOQL only, so these paths see its writes alone.
        control(self.server, "POST", "faults", {"path": WRITE_PATH, "status": status, "times": times})
