"""The record-triggered Flow with an HTTP Callout action that a customer sets up for new Leads (docs/crm/
salesforce.md): when a Lead is created, through the API or the control API (seeded rows are data that was already
there and call nothing), Salesforce POSTs `{"leadId": "<18-character id>", "orgId": "<org id>"}` as JSON to the
org's `callout_url` (control API: PATCH /_sandbox/salesforce/orgs/<id> {callout_url}).

The call goes out after the write commits, through the sandbox's background sender (kit/delivery.py), and is
listed in the outbox under kind "salesforce_flow". A connection error or an answer other than 2xx is tried
again `callout_retries` times, `callout_retry_seconds` apart (how often Flow's asynchronous path retries a
failed callout is UNCONFIRMED: an org setting, default 2). Headers: `Content-Type: application/json` and
`User-Agent: SFDC-Callout/<version>` as Apex and Flow callouts send.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sandbox.salesforce import ids

if TYPE_CHECKING:
    from sandbox.kit.delivery import Delivery
    from sandbox.kit.store import ChangeEvent
    from sandbox.salesforce.state import SfOrg
    from sandbox.state import SandboxState

OUTBOX_KIND = "salesforce_flow"
CALLOUT_VERSION = "66.0"


class FlowCallouts:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox

    def handle(self, org: SfOrg, event: ChangeEvent) -> None:
        if event.kind != "Lead" or event.operation != "insert" or not org.callout_url:
            return
        for lead_id in event.ids:
            self.send(org, ids.to18(lead_id), attempt=1)

    def send(self, org: SfOrg, lead_id: str, *, attempt: int) -> None:
        url = org.callout_url
        if not url or self.sandbox.sender.stopped:
            return
        self.sandbox.counters[f"salesforce.flow_callouts:{org.org_id}"] += 1
        self.sandbox.sender.submit(
            kind=OUTBOX_KIND,
            method="POST",
            url=url,
            headers={"Content-Type": "application/json", "User-Agent": f"SFDC-Callout/{CALLOUT_VERSION}"},
            json={"leadId": lead_id, "orgId": org.org_id},
            on_done=lambda sent: self._done(org, lead_id, attempt, sent),
        )

    def _done(self, org: SfOrg, lead_id: str, attempt: int, sent: Delivery) -> None:
        delivered = sent.error is None and sent.status is not None and 200 <= sent.status < 300
        if delivered or attempt > org.callout_retries:
            return
        timer = threading.Timer(
            org.callout_retry_seconds, self.send, args=(org, lead_id), kwargs={"attempt": attempt + 1}
        )
        timer.daemon = True
        timer.start()
