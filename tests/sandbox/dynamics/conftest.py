"""Fixtures of the Dynamics emulator's tests: a sandbox with no demo data served over HTTP and HTTPS (Entra's
stand-in), and an environment of it with the demo app consented (dv_support.Env)."""

from __future__ import annotations

import pytest

from tests.sandbox.dynamics.dv_support import new_env


@pytest.fixture
def dv_server(tmp_path):
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty", tls=True, tls_dir=str(tmp_path / "tls")) as server:
        yield server


@pytest.fixture
def env(dv_server):
    return new_env(dv_server)
