"""HubSpot's settings, owned by this package the way DRF owns `api_settings`: `hubspot_settings.API_VERSION` is the
Django setting `HUBSPOT_API_VERSION` if the project (or a test) sets one, else the environment variable of the same
name, else the default below. config/ holds only the platform's settings; `.env.example` lists these.

Read at each use, never copied at import: a test's `settings.HUBSPOT_...` override is seen at once.
Vendor facts behind the defaults: docs/vendors/hubspot.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import environ

from django.conf import settings

from crm.vendor_settings import VendorSettings, demo_when_debug

_env = environ.Env()

# The sandbox's demo app (sandbox/worlds.py DEMO_HS_*): DEBUG uses it when no app is configured.
DEMO_CLIENT_ID = "leadline-demo-hubspot-client-id"
DEMO_CLIENT_SECRET = "demo-hubspot-client-secret-not-secret"  # noqa: S105 (the sandbox's public demo value)
DEMO_APP_ID = "4242001"
# The emulator serves HubSpot's API, OAuth and consent page under this path of the sandbox host.
SANDBOX_PATH = "/hubspot"


def _sandbox_when_debug(production: str) -> Callable[[], str]:
    return lambda: f"{settings.SANDBOX_URL}{SANDBOX_PATH}" if settings.DEBUG else production


# name (without HUBSPOT_) -> (how the environment variable is parsed, the default or a function giving it)
SETTINGS: dict[str, tuple[str, Any]] = {
    # --- where HubSpot lives ------------------------------------------------------------------------------------
    # The API and token host (may carry a path: the sandbox serves HubSpot under /hubspot/).
    "API_URL": ("str", _sandbox_when_debug("https://api.hubapi.com")),
    # Where people consent (…/oauth/authorize) and open records (…/contacts/<hub id>/record/0-1/<id>).
    "APP_URL": ("str", _sandbox_when_debug("https://app.hubspot.com")),
    # The path added to an operator-set API host that is not HubSpot's own (an emulator serving HubSpot under it).
    "EMULATOR_PATH": ("str", SANDBOX_PATH),
    # --- Leadline's public app (one app, OAuth per portal) ------------------------------------------------------
    # An account's own client_id / client_secret win when set; these are the app's. DEBUG: the sandbox demo app.
    "CLIENT_ID": ("str", demo_when_debug(DEMO_CLIENT_ID, "")),
    "CLIENT_SECRET": ("str", demo_when_debug(DEMO_CLIENT_SECRET, "")),
    # The app's id: webhook events whose sourceId is this one are our own writes' echoes.
    "APP_ID": ("str", demo_when_debug(DEMO_APP_ID, "")),
    # Scopes asked for when connecting a portal, and for "Sign in with HubSpot" (space separated).
    "SCOPES": (
        "str",
        "oauth crm.objects.contacts.read crm.objects.contacts.write crm.objects.companies.read "
        "crm.objects.deals.read crm.objects.owners.read crm.schemas.contacts.read crm.schemas.companies.read "
        "crm.schemas.deals.read",
    ),
    "SIGNIN_SCOPES": ("str", "oauth"),
    # The callback URL registered on the app; empty means PUBLIC_BASE_URL + /crm/oauth/callback.
    "OAUTH_REDIRECT_URI": ("str", ""),
    # --- API client ---------------------------------------------------------------------------------------------
    # The path family: a date version ("2026-03": /crm/objects/2026-03/...) or "v3" (legacy /crm/v3 + /crm/v4
    # associations, supported until September 2027).
    "API_VERSION": ("str", "2026-03"),
    # (connect, read) seconds of every API call; an env value reads "5,30".
    "TIMEOUT": ("timeout", (5.0, 30.0)),
    # Retries of one call (429 ten-secondly and search, 5xx, 423, timeouts) before a typed error.
    "RETRY_ATTEMPTS": ("int", 4),
    # The first wait after a 5xx (doubled each time) and the most any single wait lasts.
    "RETRY_BASE_SECONDS": ("float", 0.2),
    "RETRY_MAX_SECONDS": ("float", 30.0),
    # CRM search requests per second per portal, shared by every worker (HubSpot says 4/s per token in one place
    # and 5/s per account in another: the lower one).
    "SEARCH_PER_SECOND": ("int", 4),
    # Background calls wait while the 10-second window's Remaining is below this share of its Max, so a person's
    # call always finds room.
    "BACKGROUND_RESERVE": ("float", 0.2),
    # The longest a background call waits for room in the window before it gives up (CrmRateLimited).
    "BACKGROUND_WAIT_SECONDS": ("float", 30.0),
    # The portals' time zone, if all share one (the daily limit resets at the portal's midnight). Empty: unknown, so
    # background work blocked by the daily limit tries again each whole hour.
    "PORTAL_TIME_ZONE": ("str", ""),
    # --- Token broker -------------------------------------------------------------------------------------------
    # The token endpoint: "/oauth/v1/token" (snake_case answer; served until 2027-02-16) or the date-versioned
    # "/oauth/2026-03/token" (camelCase). Either answer is understood.
    "TOKEN_PATH": ("str", "/oauth/v1/token"),
    # Refresh this long before expires_in runs out (tokens live 30 minutes).
    "TOKEN_REFRESH_MARGIN_SECONDS": ("int", 300),
    "TOKEN_TIMEOUT": ("timeout", (5.0, 15.0)),
    "TOKEN_LOCK_WAIT_SECONDS": ("float", 20.0),
    # After the token endpoint failed (down, slow), nobody asks again for this long.
    "TOKEN_FAILURE_COOLDOWN_SECONDS": ("int", 10),
    # --- Webhooks -----------------------------------------------------------------------------------------------
    # Signature v3: a request timestamp older than this is refused (HubSpot: 5 minutes).
    "WEBHOOK_MAX_AGE_SECONDS": ("int", 300),
}


class HubSpotSettings(VendorSettings):
    """`hubspot_settings.<NAME>`: the Django setting HUBSPOT_<NAME>, else the environment variable, else the
    default (environment values are parsed once per process)."""

    prefix = "HUBSPOT"
    label = "HubSpot"
    declared = SETTINGS
    env = _env


hubspot_settings = HubSpotSettings()
