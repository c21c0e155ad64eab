"""`make run` with Dynamics 365: the demo command records the sandbox's harborfit environment on Harbor Fitness
Group's connection; with DEBUG's defaults (Leadline's demo Entra app, Entra on the sandbox's HTTPS listener, its
certificate in SANDBOX_TLS_DIR) a demo staff member signs in with Microsoft, and the connection answers as our
application user there."""

from __future__ import annotations

import io
import os

import pytest

from django.core.management import call_command
from django.test import Client

from crm.records import Priority
from crm.registry import provider_for
from sandbox import worlds
from studios.models import ProviderAccount
from tenants import demo
from tests.crm import sign_in_support as support
from tests.crm.dynamics.test_sign_in import sign_in_page
from tests.crm.sign_in_support import clean_cache  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_sandbox(settings):
    from sandbox.server import SandboxServer

    with SandboxServer(world="demo", tls=True) as server:
        settings.DEBUG = True  # the demo app and the sandbox's hosts are the Dynamics settings' DEBUG defaults
        settings.SANDBOX_URL = server.url
        settings.SANDBOX_TLS_URL = server.tls_url
        settings.SANDBOX_TLS_DIR = os.path.dirname(server.ca_path)
        yield server


def test_the_demo_staff_sign_in_with_microsoft_as_in_make_run(demo_sandbox):
    call_command("demo", stdout=io.StringIO())
    rowan = next(user for user in worlds.DEMO_DV_USERS if user["internalemailaddress"] == "rowan@harbor.leadline.test")
    popup = Client()
    location = sign_in_page(support.start(popup, "dynamics"), _sandbox_user=rowan["azureactivedirectoryobjectid"])
    support.assert_demo_member_signed_in(popup, location, rowan["internalemailaddress"])

    account = ProviderAccount.objects.unscoped().get(name=demo.DEMO_DV_CONNECTION)
    identity = provider_for(account, priority=Priority.INTERACTIVE).identity()
    assert (identity.org_id, identity.user_id) == (demo.DEMO_DV_ORGANIZATION_ID, demo.DEMO_DV_APPLICATION_USER_ID)
