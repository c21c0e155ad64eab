"""The contract suite's harness for Zoho CRM: the sandbox's Zoho emulator, driven through its control API."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from crm.providers.zoho import oauth
from crm.providers.zoho.client import ZohoClient
from crm.records import Subscription
from sandbox import worlds
from tests.crm.harness import ContractHarness
from tests.crm.zoho.conftest import control, crm_account, records_written
from tests.factories import ZohoCrmAccountFactory


class Harness(ContractHarness):
    kind = "zoho"
    sandbox_fixture = "empty_sandbox"
    opt_out_field = "SMS_Opt_Out"
    phone_field = "Mobile"
    last_name_field = "Last_Name"
    external_id_field = "Leadline_Id"

    def make_connection(self) -> Any:
        return crm_account(self.organization, self.server)

    def expected_identity(self) -> Mapping[str, str]:
        org = next(org for org in control(self.server, "GET", "zoho/orgs") if org["org_id"] == worlds.DEMO_ZOHO_ORG_ID)
        return {"org_id": worlds.DEMO_ZOHO_ORG_ID, "user_ids": [str(user["id"]) for user in org["users"]]}

    def unconnected(self) -> tuple[Any, str]:
        body = {"name": "Contract Org", "redirect_uris": [oauth.redirect_uri()]}
        org = control(self.server, "POST", "zoho/orgs", body)
        self._consenting_user = str(org["users"][0]["id"])
        account = ZohoCrmAccountFactory(
            organization=self.organization,
            name="contract-crm",
            is_default=False,
            client_id=org["client_id"],
            client_secret=org["client_secret"],
            refresh_token="",
            accounts_url=self.server.url,
            api_domain=self.server.url,
            custom_endpoints=True,  # an operator pointed it at the sandbox
        )
        return account, str(org["org_id"])

    def consent(self, authorize_url: str) -> dict[str, str]:
        choice = {"_sandbox_user": self._consenting_user}  # the new org's admin approves on the consent page
        answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return {name: values[0] for name, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}

    def revoke_access_tokens(self) -> None:
        control(self.server, "POST", "zoho/revoke-tokens", {})

    def revoke_grant(self) -> None:
        answer = requests.post(
            f"{self.server.url}/oauth/v2/token/revoke", params={"token": worlds.DEMO_CRM_REFRESH_TOKEN}, timeout=10
        )
        assert answer.status_code == 200, answer.text

    # --- data -------------------------------------------------------------------------------------------------
    def seed_leads(self, count: int) -> list[str]:
        before = {record["id"] for record in self._leads()}
        control(self.server, "POST", "zoho/seed", {"module": "Leads", "count": count, "seed": 7})
        return [record["id"] for record in self._leads() if record["id"] not in before]

    def stamp_together(self, ids: list[str], *, values: Mapping[str, Any]) -> datetime:
        # A frozen clock gives every edit the same Modified_Time, as one of Zoho's mass updates does.
        moment = datetime.now(UTC).replace(microsecond=0)
        control(self.server, "POST", "clock", {"freeze_at": moment.isoformat()})
        try:
            for record_id in ids:
                control(self.server, "PATCH", f"zoho/Leads/{record_id}", dict(values))
        finally:
            control(self.server, "POST", "clock", {"unfreeze": True})
        return moment

    def create_lead(self, *, last_name: str, phone: str) -> str:
        return str(control(self.server, "POST", "zoho/leads", {"Last_Name": last_name, "Mobile": phone})["id"])

    def edit(self, record_id: str, values: Mapping[str, Any]) -> None:
        time.sleep(1.01)  # Zoho's Modified_Time has whole seconds: the edit must land after what was read
        control(self.server, "PATCH", f"zoho/Leads/{record_id}", dict(values))

    def delete(self, record_id: str) -> None:
        control(self.server, "DELETE", f"zoho/Leads/{record_id}")

    def read(self, record_id: str) -> Mapping[str, Any]:
        return control(self.server, "GET", f"zoho/Leads/{record_id}")

    def owner_id(self) -> str:
        return str(worlds.DEMO_USERS[1]["id"])

    def tasks_on(self, record_id: str) -> list[dict[str, str]]:
        tasks = control(self.server, "GET", "zoho/Tasks?limit=1000")
        return [
            {"subject": task.get("Subject", ""), "owner_id": str((task.get("Owner") or {}).get("id") or "")}
            for task in tasks
            if str((task.get("What_Id") or {}).get("id") or "") == str(record_id)
        ]

    def activities_on(self, record_id: str) -> list[dict[str, str]]:
        tasks = control(self.server, "GET", "zoho/Tasks?limit=1000")
        on_lead = [task for task in tasks if str((task.get("What_Id") or {}).get("id") or "") == str(record_id)]
        on_lead.sort(key=lambda task: (task.get("Created_Time") or "", int(task["id"])))
        return [
            {
                "subject": task.get("Subject") or "",
                "status": task.get("Status") or "",
                "description": task.get("Description") or "",
            }
            for task in on_lead
        ]

    def _leads(self) -> list[dict[str, Any]]:
        return control(self.server, "GET", "zoho/Leads?limit=100000")

    # --- faults -----------------------------------------------------------------------------------------------
    def fail_reads(self, *, status: int, times: int) -> None:
        control(self.server, "POST", "faults", {"path": "^/crm/v8/coql", "status": status, "times": times})

    def edit_while_paging(self, *, after_pages: int, count: int) -> None:
        rule = {"path": "^/crm/v8/coql", "after": after_pages, "action": "edit_records", "module": "Leads"}
        control(self.server, "POST", "faults", {**rule, "count": count})

    # --- change feed ------------------------------------------------------------------------------------------
    def new_subscription(self, *, objects: tuple[str, ...]) -> Subscription:
        return Subscription(
            id=str(secrets.randbelow(2**40) + 2**40),
            objects=objects,
            notify_url="https://leadline.test/webhooks/crm/zoho/notifications/?key=contract",
            secret=secrets.token_urlsafe(32),
            expires_at=datetime.now(UTC) + timedelta(hours=6),
        )

    def live_subscriptions(self) -> list[str]:
        return [str(entry.get("channel_id")) for entry in ZohoClient(account=self.connection()).watch_list()]

    def notification_body(self, subscription: Subscription, *, ids: list[str], secret: str | None = None) -> bytes:
        payload = {
            "server_time": int(time.time() * 1000),
            "query_params": {},
            "module": "Leads",
            "resource_uri": f"{self.server.url}/crm/v8/Leads",
            "ids": ids,
            "affected_fields": [],
            "operation": "update",
            "channel_id": int(subscription.id),
            "token": subscription.secret if secret is None else secret,
        }
        return json.dumps(payload).encode()

    # --- bulk export (Bulk Read) --------------------------------------------------------------------------------
    def hold_exports(self) -> None:
        control(self.server, "PATCH", "config", {"bulk_read_seconds_per_state": 3600})

    def finish_export(self, job_id: str) -> None:
        control(self.server, "POST", f"zoho/bulk/{job_id}/complete", {})

    def fail_export(self, job_id: str) -> None:
        control(self.server, "POST", f"zoho/bulk/{job_id}/fail", {"reason": "contract: the export failed"})

    def expire_export(self, job_id: str) -> None:
        # Zoho keeps a result for a day; the emulator has no control for that, so the job leaves its state.
        self.server.state.crm.bulk.jobs.pop(str(job_id))

    # --- two-way sync -----------------------------------------------------------------------------------------
    MODULES = {"lead": "Leads", "contact": "Contacts", "account": "Accounts", "deal": "Deals", "task": "Tasks"}

    def create_record(self, object: str, values: Mapping[str, Any]) -> str:
        # The people page: validated like the API, but no validation rule (those guard API writes) and no tally.
        module = self.MODULES[object]
        return str(control(self.server, "POST", f"zoho/{module}", dict(values))["id"])

    def edit_record(self, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        time.sleep(1.01)  # whole-second Modified_Time: the edit must land after what was read
        user = worlds.DEMO_USERS[1]["id"]  # a person, not the connection's user
        control(self.server, "PATCH", f"zoho/{self.MODULES[object]}/{record_id}", {**values, "by_user_id": user})

    def delete_record(self, object: str, record_id: str) -> None:
        control(self.server, "DELETE", f"zoho/{self.MODULES[object]}/{record_id}")

    def read_record(self, object: str, record_id: str) -> Mapping[str, Any] | None:
        answer = requests.get(f"{self.server.url}/_sandbox/zoho/{self.MODULES[object]}/{record_id}", timeout=30)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    def record_ids(self, object: str) -> list[str]:
        records = control(self.server, "GET", f"zoho/{self.MODULES[object]}?limit=1000000")
        return sorted((record["id"] for record in records), key=int)

    def records_written(self) -> int:
        return records_written(self.server)

    def refuse_writes(self, object: str, *, field: str, message: str) -> None:
        rule = {"module": self.MODULES[object], "field": field, "message": message}
        control(self.server, "POST", "zoho/validation-rules", rule)

    def allow_writes(self, object: str) -> None:
        control(self.server, "DELETE", f"zoho/validation-rules?module={self.MODULES[object]}")

    def fail_writes(self, *, status: int, times: int) -> None:
        # Inserts, updates, upserts and deletes go to /crm/v8/<module>[/upsert]; the provider reads through COQL and
        # /crm/v8/<module>/<id>, which this leaves alone (a fault rule names at most one method).
        path = "^/crm/v8/(?!coql$|org$|users$)[A-Za-z_]+(/upsert)?$"
        control(self.server, "POST", "faults", {"path": path, "status": status, "times": times})
