"""Notifications (watch channels). STUB: built by the bulk/notifications helper."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg
    from sandbox.zoho_crm.store import ChangeEvent


class WatchState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox

    def handle(self, org: ZohoOrg, event: ChangeEvent) -> None:
        pass


ROUTES: list = []
