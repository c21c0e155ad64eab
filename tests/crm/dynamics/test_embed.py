"""The widget on a Dynamics 365 form: /app/?crm=dynamics loads our glue script (no vendor SDK), offers "Sign in with
Microsoft" only, and may be framed by Dataverse environments' origins alone (every crmN region and the sovereign
clouds, never all of dynamics.com), by the sandbox only in development."""

from __future__ import annotations

import pytest

from django.test import Client

from crm.providers.dynamics import embed
from tests.widget.test_page import directives

pytestmark = pytest.mark.django_db


def test_the_widget_inside_a_dynamics_form():
    response = Client().get(
        "/app/", {"crm": "dynamics", "typename": "lead", "id": "{00000000-0000-4000-8000-000000000001}"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script src="/static/crm/dynamics/embed.js"></script>' in html
    assert 'data-crm="dynamics"' in html
    assert 'data-sign-in-url="/auth/crm/dynamics/start?mode=widget"' in html
    assert "/auth/crm/hubspot/" not in html  # inside Dynamics, only its own sign-in
    csp = directives(response)
    assert csp["script-src"] == "'self'"
    framers = csp["frame-ancestors"].split()
    assert "https://*.crm.dynamics.com" in framers
    assert "https://*.crm4.dynamics.com" in framers
    assert "https://*.crm.microsoftdynamics.us" in framers
    assert "https://*.dynamics.com" not in framers
    assert all(origin.startswith("https://") for origin in framers)
    assert Client().get("/static/crm/dynamics/embed.js").status_code == 200


def test_the_sandbox_may_frame_the_widget_only_in_development(settings):
    settings.DEBUG = False
    assert not any("127.0.0.1" in origin for origin in embed.frame_ancestors())
    settings.DEBUG = True
    settings.SANDBOX_URL = "http://127.0.0.1:8100"
    assert embed.frame_ancestors()[-1] == "http://127.0.0.1:8100"
