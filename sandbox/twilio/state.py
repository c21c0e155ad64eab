"""Twilio accounts, their numbers and messages. STUB: built by the Twilio/Voice helper."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState


class TwilioState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox

    def seed_world(self, name: str) -> None:
        pass
