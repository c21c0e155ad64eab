"""Fixtures of the Dynamics emulator's tests: a sandbox with no demo data served over HTTP and HTTPS (Entra's
stand-in), and an environment of it with the demo app consented (dv_support.Env)."""

from __future__ import annotations

import pytest

from tests.sandbox.dynamics.dv_support import new_env


@pytest.fixture(scope="session")
def dv_tls_dir(tmp_path_factory):
    """One certificate for the session (making an RSA key per test would be slow)."""
    return str(tmp_path_factory.mktemp("dv-tls"))


@pytest.fixture
def dv_server(dv_tls_dir):
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty", tls=True, tls_dir=dv_tls_dir) as server:
        yield server


@pytest.fixture
def env(dv_server):
    return new_env(dv_server)
