"""Bulk Read jobs. STUB: built by the bulk/notifications helper."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState


class BulkState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox


ROUTES: list = []
