"""Everything the sandbox knows, in memory, behind one object that the control API can reset: the kit's
shared state (clock, faults, counters, outbox, settings; sandbox/kit/world.py) plus each vendor's."""

from __future__ import annotations

from typing import Any

from sandbox.config import SandboxConfig
from sandbox.kit.faults import FaultAction, edit_records_action
from sandbox.kit.world import EmulatorState


class SandboxState(EmulatorState):
    """The emulated world: Zoho Accounts (OAuth), Zoho CRM orgs, Zoho Voice, Twilio accounts, Salesforce orgs,
    HubSpot portals and apps.

    `seed` makes generated data repeatable; `world` names the starting data ("demo": the product's demo
    organization, its users, numbers and a few hundred leads; "empty": nothing but what tests create).
    """

    settings_class = SandboxConfig
    config: SandboxConfig

    def __init__(self, *, seed: int = 42, world: str = "demo", leads: int = 200, **config: Any) -> None:
        super().__init__(seed=seed, world=world, config=config, leads=leads)

    def build(self, *, leads: int = 200) -> None:
        from sandbox.dynamics.state import DynamicsState
        from sandbox.hubspot.state import HubSpotState
        from sandbox.salesforce.state import SalesforceState
        from sandbox.twilio.state import TwilioState
        from sandbox.worlds import build_world
        from sandbox.zoho_accounts import AccountsState
        from sandbox.zoho_crm.orgs import CrmState
        from sandbox.zoho_voice import VoiceState

        self.accounts = AccountsState(self)
        self.crm = CrmState(self)
        self.voice = VoiceState(self)
        self.twilio = TwilioState(self)
        self.salesforce = SalesforceState(self)
        self.hubspot = HubSpotState(self)
        self.dynamics = DynamicsState(self)
        # "revoke_tokens": every access token of every org stops working (the matched call itself gets 401).
        self.faults.register(FaultAction("revoke_tokens", lambda rule: self.accounts.revoke_all()))
        # "edit_records": records get a new Modified_Time while a sync pages (the next pages see them moved).
        self.faults.register(
            edit_records_action(
                self.crm.stores_of,
                lambda record: {"Description": f"edited by a person while a sync paged ({record['id']})"},
                kind_param="module",
                default_kind="Leads",
            )
        )
        # "sf_revoke_sessions": every Salesforce session ends (the matched call itself gets 401 INVALID_SESSION_ID,
        # and its query locators die with it), as when another process refreshed with rotation.
        self.faults.register(FaultAction("sf_revoke_sessions", lambda rule: self.salesforce.end_all_sessions()))
        # "sf_edit_records": records get a new SystemModstamp while a sync pages (kind parameter: "sobject").
        self.faults.register(
            edit_records_action(
                self.salesforce.stores_of,
                lambda record: {"Description": f"edited by a person while a sync paged ({record['Id']})"},
                name="sf_edit_records",
                kind_param="sobject",
                default_kind="Lead",
            )
        )
        self._register_hubspot_faults()
        self._register_dynamics_faults()
        build_world(self, self.world, seed=self.seed, leads=leads)

    def _register_hubspot_faults(self) -> None:
        # "hs_revoke_tokens": every HubSpot access token stops working (401 INVALID_AUTHENTICATION; refresh works).
        self.faults.register(FaultAction("hs_revoke_tokens", lambda rule: self.hubspot.revoke_all_access()))
        # "hs_expire_tokens": every OAuth access token expires (401 EXPIRED_AUTHENTICATION until a refresh).
        self.faults.register(FaultAction("hs_expire_tokens", lambda rule: self.hubspot.expire_all_access()))
        # "hs_edit_records": people edit records while a sync pages (object_type, count), as CRM_UI changes.
        self.faults.register(
            FaultAction(
                "hs_edit_records",
                lambda rule: self.hubspot.edit_for_fault(str(rule.params["object_type"]), int(rule.params["count"])),
                {"object_type": "contacts", "count": 10},
            )
        )

    def _register_dynamics_faults(self) -> None:
        # "dv_edit_records": people edit rows of a Dataverse table while a sync pages (table, count): each a new
        # versionnumber and modifiedon, announced as a person's change ("dv_revoke_tokens" is the emulator's own).
        self.faults.register(
            FaultAction(
                "dv_edit_records",
                lambda rule: self.dynamics.edit_for_fault(str(rule.params["table"]), int(rule.params["count"])),
                {"table": "lead", "count": 10},
            )
        )

    def reset_options(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"leads": int(body.get("leads", 200))}

    def reset(
        self,
        *,
        seed: int | None = None,
        world: str | None = None,
        leads: int = 200,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().reset(seed=seed, world=world, config=config, leads=leads)
