"""Dynamics 365 / Dataverse and Entra ID in memory (being built: issue 17; see the module docstring once written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState


class DynamicsState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox

    def seed_world(self, name: str, *, seed: int) -> None:
        return None
