"""Salesforce's settings, owned by this package the way DRF owns `api_settings`: `salesforce_settings.API_VERSION`
is the Django setting `SALESFORCE_API_VERSION` if the project (or a test) sets one, else the environment variable
of the same name, else the default below. config/ holds only the platform's settings; `.env.example` lists these.

Read at each use, never copied at import: a test's `settings.SALESFORCE_...` override is seen at once.
Vendor facts behind the defaults: docs/vendors/salesforce.md.
"""

from __future__ import annotations

from typing import Any

import environ

from django.conf import settings

from crm.vendor_settings import VendorSettings, demo_when_debug

_env = environ.Env()


def _signin_login_url() -> str:
    return settings.SANDBOX_URL if settings.DEBUG else "https://login.salesforce.com"


# name (without SALESFORCE_) -> (how the environment variable is parsed, the default or a function giving it)
SETTINGS: dict[str, tuple[str, Any]] = {
    # --- "Sign in with Salesforce" (sign_in.py) -----------------------------------------------------------------
    # Leadline's own app (consumer key and secret); empty: sign-in is off. DEBUG uses the sandbox demo org's app.
    # Its callback URL: empty means PUBLIC_BASE_URL + /crm/oauth/callback.
    "SIGNIN_CLIENT_ID": ("str", demo_when_debug("3MVG9DEMO.leadline.summit.sandbox.ConsumerKey", "")),
    "SIGNIN_CLIENT_SECRET": ("str", demo_when_debug("demo-salesforce-client-secret-not-secret", "")),
    "SIGNIN_LOGIN_URL": ("str", _signin_login_url),
    "SIGNIN_REDIRECT_URI": ("str", ""),
    # --- OAuth ("Connect Salesforce", oauth.py) ---------------------------------------------------------------
    # The callback URL registered on the customer's External Client App / connected app. Empty means
    # PUBLIC_BASE_URL + /crm/oauth/callback (the one callback of every CRM flow).
    "OAUTH_REDIRECT_URI": ("str", ""),
    # Extra login hosts a code (and a client secret) may be sent to (an operator's emulator). Salesforce's own
    # (login, test, *.my.salesforce.com) are built in (apps.py); an account's own only if an operator set it.
    "LOGIN_SERVERS": ("list", []),
    # --- API client -------------------------------------------------------------------------------------------
    # The REST API version of every data call: /services/data/v<version>/ (v66.0 is Spring '26).
    "API_VERSION": ("str", "66.0"),
    # Sent on every call as `Sforce-Call-Options: client=<name>`; Salesforce records it as the change's origin, so
    # our own writes can be told apart later (Change Data Capture's changeOrigin).
    "CLIENT_NAME": ("str", "leadline"),
    # (connect, read) seconds of every API call; an env value reads "5,30".
    "TIMEOUT": ("timeout", (5.0, 30.0)),
    # Retries of 5xx, timeouts and connection failures: waits of base * 2**n plus up to `jitter` of each.
    "RETRY_ATTEMPTS": ("int", 4),
    "RETRY_BASE_SECONDS": ("float", 1.0),
    "RETRY_JITTER": ("float", 0.25),
    # URI + headers are capped at 16,384 bytes (414 URI / 431 headers); a URL longer than this is refused before
    # it is sent, and the provider splits field lists and id lists to stay under it (headers keep the margin).
    "URI_MAX_BYTES": ("int", 16_384 - 1_536),
    # Records per query batch asked for with `Sforce-Query-Options: batchSize=N` (200-2,000; a hint only).
    "QUERY_BATCH_SIZE": ("int", 2000),
    # --- Allocation (the org's rolling 24 h API request allocation, seen in Sforce-Limit-Info) -----------------
    # Background work (sync, timeline, automation) stops at this share of the allocation; people get the rest.
    "BACKGROUND_SHARE": ("float", 0.8),
    # After our own stop, background work asks again after this long (the window is rolling: usage falls slowly).
    "BUDGET_RETRY_SECONDS": ("int", 900),
    # After a 403 REQUEST_LIMIT_EXCEEDED, background calls wait this long (Salesforce says no more).
    "LIMIT_BLOCK_SECONDS": ("int", 3600),
    # The last usage seen is written to the connection at most this often (every answer carries it).
    "USAGE_PERSIST_SECONDS": ("int", 60),
    # --- Token broker -----------------------------------------------------------------------------------------
    # Salesforce's token answer has no expiry (it is the org's session timeout, 15 min to 24 h); we keep an access
    # token this long and otherwise until it is refused (401 INVALID_SESSION_ID). Refreshing early would end the
    # session of every query locator in flight, so it is long.
    "ACCESS_TOKEN_CACHE_SECONDS": ("int", 8 * 3600),
    # How long a process waits for another one's refresh before giving up (SalesforceUnavailable).
    "TOKEN_LOCK_WAIT_SECONDS": ("float", 20.0),
    # (connect, read) seconds of a token request to the login host.
    "TOKEN_TIMEOUT": ("timeout", (5.0, 15.0)),
    # After the token endpoint failed (down, slow), nobody asks again for this long: one failure, not twenty.
    "TOKEN_FAILURE_COOLDOWN_SECONDS": ("int", 10),
}


class SalesforceSettings(VendorSettings):
    """`salesforce_settings.<NAME>`: the Django setting SALESFORCE_<NAME>, else the environment variable, else the
    default."""

    prefix = "SALESFORCE"
    label = "Salesforce"
    declared = SETTINGS
    env = _env


salesforce_settings = SalesforceSettings()
