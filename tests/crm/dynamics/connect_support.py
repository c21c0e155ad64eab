"""What the connect, sign-in and admin tests share: the sandbox with its HTTPS listener (Entra's stand-in), the
settings that point Leadline's Entra app at it, a Dynamics account an operator pointed at it, and the steps of a
connect (the admin's connect page, Entra's admin consent page, the one CRM callback)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from django.test import Client
from django.urls import reverse

from crm.providers.dynamics import oauth
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_account
from studios.models import ProviderAccount

CLIENT_ID = "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
CLIENT_SECRET = "demo-dynamics-client-secret-not-secret"  # the sandbox's public demo value


def app_configure(settings: Any, server: Any) -> None:
    """Leadline's Entra app is the sandbox's demo app, people's browsers consent on the sandbox's plain address (the
    package's dv_server fixture already points msal at its HTTPS listener)."""
    settings.DYNAMICS_LOGIN_URL = server.tls_url
    settings.DYNAMICS_CA_BUNDLE = server.ca_path
    settings.DYNAMICS_CONSENT_URL = f"{server.url}/entra"
    settings.DYNAMICS_CLIENT_ID = CLIENT_ID
    settings.DYNAMICS_CLIENT_SECRET = CLIENT_SECRET


def new_environment(server: Any, name: str, *, consent: bool = False, **options: Any) -> Any:
    """An environment in a new tenant (three people, the first an admin); the app neither consented nor given an
    application user unless `consent`."""
    return server.state.dynamics.create_environment(name, consent=consent, **options)


def tenant_admin(server: Any, environment: Any) -> Any:
    return server.state.dynamics.tenant(environment.tenant_id).admins()[0]


def application_user_add(server: Any, environment: Any) -> str:
    """The customer's step after consent: Leadline's application user in the environment (its system user id)."""
    row = server.state.dynamics.add_application_user(environment, CLIENT_ID)
    return str(row["systemuserid"])


def dynamics_account(organization: Any, server: Any, name: str = "acme-dynamics", **values: Any) -> ProviderAccount:
    """A Dynamics account an operator pointed at the sandbox (Entra on its HTTPS listener); the app is the
    server's."""
    fields = {
        "organization": organization,
        "name": name,
        "kind": "dynamics",
        "is_default": True,
        "accounts_url": server.tls_url,
        "api_domain": server.url,
        "custom_endpoints": True,
        **values,
    }
    return ProviderAccount.objects.create(**fields)


def url(name: str, *args: int) -> str:
    return reverse(f"admin:dynamics_dynamicsconnection_{name}", args=args)


def start(client: Client, connection: DynamicsConnection, environment_url: str) -> str:
    """The manager names the environment on the connect page; where they are sent (Entra's admin consent)."""
    assert client.get(url("connect", connection.pk)).status_code == 200
    response = client.post(url("connect", connection.pk), {"environment_url": environment_url})
    assert response.status_code == 302, [str(m) for m in response.wsgi_request._messages]
    return response.url


def consent(consent_url: str, **choice: Any) -> str:
    """What the administrator does on Entra's page (`_sandbox_admin`: accept as them; `_sandbox_deny`: cancel);
    where Entra sends them."""
    answer = requests.get(consent_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text[:2000]
    return answer.headers["Location"]


def callback(client: Client, location: str):
    """Follow Entra's redirect into the product: the one CRM callback, with the query Entra gave."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == oauth.redirect_uri()
    return client.get(reverse("crm-oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})


def unconnected(organization: Any, server: Any, **values: Any) -> DynamicsConnection:
    return connection_for_account(account=dynamics_account(organization, server, **values))


def sign_in_page(authorize_url: str, **choice: Any) -> str:
    """What a person does on Entra's sign-in page (`_sandbox_user`: sign in as them; `_sandbox_deny`: cancel);
    where Entra sends them."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text[:2000]
    return answer.headers["Location"]


def confirm(client: Client, response: Any, person: Any) -> Any:
    """The consent's callback sent the person to sign in at the consenting tenant: they do, as `person` (a tenant
    user), and come back to the callback."""
    assert response.status_code == 302, response
    assert "/oauth2/v2.0/authorize?" in response.url, response.url
    return callback(client, sign_in_page(response.url, _sandbox_user=person.object_id))
