"""Dynamics 365 / Dataverse settings, owned by this package the way DRF owns `api_settings`:
`dynamics_settings.API_VERSION` is the Django setting `DYNAMICS_API_VERSION` if the project (or a test) sets one,
else the environment variable of the same name, else the default below. `.env.example` lists these.

Read at each use, never copied at import: a test's `settings.DYNAMICS_...` override is seen at once.
Vendor facts behind the defaults: docs/vendors/dynamics.md.
"""

from __future__ import annotations

import os
from typing import Any

import environ

from django.conf import settings

from crm.vendor_settings import VendorSettings, demo_when_debug

_env = environ.Env()

# Leadline's multi-tenant Entra app in the sandbox (sandbox/dynamics/seed.py DEMO_DV_*): DEBUG uses it when no app
# is configured.
DEMO_CLIENT_ID = "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
DEMO_CLIENT_SECRET = "demo-dynamics-client-secret-not-secret"  # noqa: S105 (the sandbox's public demo value)
# The emulator serves each environment's Web API under this path of the sandbox host (/dynamics/<environment>).
SANDBOX_PATH = "/dynamics"
# Dataverse refuses the 53rd simultaneous request of a user ("or higher" in places; never above it here).
CONCURRENCY_HARD_CAP = 52


def _login_url() -> str:
    # msal accepts only an https authority: the sandbox's HTTPS listener stands in for Entra's login host.
    return str(settings.SANDBOX_TLS_URL) if settings.DEBUG else "https://login.microsoftonline.com"


def _consent_url() -> str:
    # A browser goes here (admin consent, sign-in): the plain sandbox URL in development, the login host otherwise.
    return f"{settings.SANDBOX_URL}/entra" if settings.DEBUG else str(dynamics_settings.LOGIN_URL)


def _ca_bundle() -> str:
    return os.path.join(str(settings.SANDBOX_TLS_DIR), "cert.pem") if settings.DEBUG else ""


# name (without DYNAMICS_) -> (how the environment variable is parsed, the default or a function giving it)
SETTINGS: dict[str, tuple[str, Any]] = {
    # --- where Entra ID lives ---------------------------------------------------------------------------------------
    # msal's authority host: tokens come from {LOGIN_URL}/{tenant}/oauth2/v2.0/token.
    "LOGIN_URL": ("str", _login_url),
    # Where a person's browser goes for admin consent and sign-in ({CONSENT_URL}/organizations/v2.0/adminconsent).
    "CONSENT_URL": ("str", _consent_url),
    # A CA bundle (path) trusted for the login host and the environments; "" = the system's CAs.
    "CA_BUNDLE": ("str", _ca_bundle),
    # The path under which an emulator serves its environments: an operator-set environment URL is
    # {host}{EMULATOR_PATH}/<name> (the sandbox's demo: {SANDBOX_URL}/dynamics/harborfit), kept whole on the
    # connection (environment_url) since an account's api_domain is an origin only.
    "EMULATOR_PATH": ("str", SANDBOX_PATH),
    # --- Leadline's multi-tenant Entra app ----------------------------------------------------------------------
    # An account's own client_id / client_secret win when set; these are the app's. DEBUG: the sandbox demo app.
    "CLIENT_ID": ("str", demo_when_debug(DEMO_CLIENT_ID, "")),
    "CLIENT_SECRET": ("str", demo_when_debug(DEMO_CLIENT_SECRET, "")),
    # The redirect URI registered on the app; empty means PUBLIC_BASE_URL + /crm/oauth/callback.
    "OAUTH_REDIRECT_URI": ("str", ""),
    # "Sign in with Microsoft" (OpenID Connect) scopes, space separated.
    "SIGNIN_SCOPES": ("str", "openid profile email"),
    # --- Web API client -----------------------------------------------------------------------------------------
    "API_VERSION": ("str", "v9.2"),
    # (connect, read) seconds of every API and token call; an env value reads "5,30".
    "TIMEOUT": ("timeout", (5.0, 30.0)),
    # Retries of one call (429s, 5xx on safe calls, connection failures) before a typed error.
    "RETRY_ATTEMPTS": ("int", 4),
    # The first wait after a 5xx (doubled each time, with jitter).
    "RETRY_BASE_SECONDS": ("float", 0.5),
    # The longest Retry-After (or shared block) a call waits inline; longer: CrmRateLimited with retry_after.
    "RETRY_MAX_SECONDS": ("float", 60.0),
    # The same for a call a person waits for (Priority.INTERACTIVE).
    "INTERACTIVE_WAIT_SECONDS": ("float", 5.0),
    # Requests in flight per environment across every worker (at most 52: Dataverse refuses the 53rd at once).
    "CONCURRENCY": ("int", 16),
    # How long a call waits for one of the environment's request slots before giving up (CrmRateLimited).
    "CONCURRENCY_WAIT_SECONDS": ("float", 120.0),
    # Rows per page asked with Prefer: odata.maxpagesize (Dataverse's most is 5,000).
    "PAGE_SIZE": ("int", 5000),
    # --- tokens -------------------------------------------------------------------------------------------------
    # A cached token with less than this left is renewed (msal itself renews under 5 minutes).
    "TOKEN_REFRESH_MARGIN_SECONDS": ("int", 300),
    # After the token endpoint failed (down, slow), nobody asks again for this long.
    "TOKEN_FAILURE_COOLDOWN_SECONDS": ("int", 10),
    # --- webhooks and activities --------------------------------------------------------------------------------
    # The header a registered webhook carries with the connection's secret.
    "WEBHOOK_HEADER": ("str", "x-leadline-webhook-key"),
    # Activities written per $batch call.
    "ACTIVITY_BATCH_SIZE": ("int", 100),
}


class DynamicsSettings(VendorSettings):
    """`dynamics_settings.<NAME>`: the Django setting DYNAMICS_<NAME>, else the environment variable, else the
    default (environment values are parsed once per process)."""

    prefix = "DYNAMICS"
    label = "Dynamics"
    declared = SETTINGS
    env = _env


def concurrency() -> int:
    """DYNAMICS_CONCURRENCY, kept between 1 and Dataverse's 52."""
    return max(1, min(int(dynamics_settings.CONCURRENCY), CONCURRENCY_HARD_CAP))


dynamics_settings = DynamicsSettings()
