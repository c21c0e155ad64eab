"""Fixtures of the HubSpot emulator's tests: a sandbox with no demo records (served over real HTTP) and a portal
with an installed app (hs_support.Hub)."""

from __future__ import annotations

import pytest

from tests.sandbox.hubspot.hs_support import new_hub


@pytest.fixture
def hs_server():
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty") as server:
        yield server


@pytest.fixture
def hub(hs_server):
    return new_hub(hs_server)
