"""Everything the sandbox knows, in memory, behind one object that the control API can reset."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sandbox.clock import Clock
from sandbox.config import SandboxConfig
from sandbox.delivery import BackgroundSender, Outbox
from sandbox.faults import Faults


class SandboxState:
    """The emulated world: Zoho Accounts (OAuth), Zoho CRM orgs, Zoho Voice, Twilio accounts.

    `seed` makes generated data repeatable; `world` names the starting data ("demo": the product's demo
    organization, its users, numbers and a few hundred leads; "empty": nothing but what tests create).
    """

    def __init__(self, *, seed: int = 42, world: str = "demo", leads: int = 200, **config: Any) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.faults = Faults()
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox()
        self.sender = BackgroundSender(self.outbox)
        self.config = SandboxConfig()
        self.config.update(config)
        self.seed = seed
        self.world = world
        self._build(leads=leads)

    def _build(self, *, leads: int) -> None:
        from sandbox.twilio.state import TwilioState
        from sandbox.worlds import build_world
        from sandbox.zoho_accounts import AccountsState
        from sandbox.zoho_crm.orgs import CrmState
        from sandbox.zoho_voice import VoiceState

        self.accounts = AccountsState(self)
        self.crm = CrmState(self)
        self.voice = VoiceState(self)
        self.twilio = TwilioState(self)
        build_world(self, self.world, seed=self.seed, leads=leads)

    def reset(
        self,
        *,
        seed: int | None = None,
        world: str | None = None,
        leads: int = 200,
        config: dict[str, Any] | None = None,
    ) -> None:
        with self.lock:
            self.seed = self.seed if seed is None else seed
            self.world = world or self.world
            self.clock.reset()
            self.faults.clear()
            self.counters.clear()
            self.outbox.clear()
            self.config = SandboxConfig()
            self.config.update(config or {})
            self._build(leads=leads)
