"""Zoho's settings, owned by this package the way DRF owns `api_settings`: `zoho_settings.RETRY_ATTEMPTS` is the
Django setting `ZOHO_RETRY_ATTEMPTS` if the project (or a test) sets one, else the environment variable of the same
name, else the default below. config/ holds only the platform's settings; `.env.example` lists these variables.

Read at each use, never copied at import: a test's `settings.ZOHO_...` override is seen at once.
"""

from __future__ import annotations

from typing import Any

import environ

from django.conf import settings

from crm.vendor_settings import VendorSettings, demo_when_debug

# `env` parses the variables (lists, numbers); config/env.py has already read `.env` into the environment if asked.
_env = environ.Env()


def _signin_accounts_url() -> str:
    return settings.SANDBOX_URL if settings.DEBUG else "https://accounts.zoho.com"


# name (without ZOHO_) -> (how the environment variable is parsed, the default or a function giving it)
SETTINGS: dict[str, tuple[str, Any]] = {
    # --- OAuth ("Connect Zoho") ---------------------------------------------------------------------------------
    # Where Zoho sends people back after consent; registered with the OAuth client in Zoho's API console. Empty
    # means PUBLIC_BASE_URL + /zoho/oauth/callback/.
    "OAUTH_REDIRECT_URI": ("str", ""),
    "CRM_SCOPES": (
        "list",
        [
            "ZohoCRM.modules.ALL",
            "ZohoCRM.settings.ALL",
            "ZohoCRM.users.READ",
            "ZohoCRM.org.READ",
            "ZohoCRM.coql.READ",
            "ZohoCRM.bulk.ALL",
            "ZohoCRM.notifications.ALL",
        ],
    ),
    "VOICE_SCOPES": ("list", ["ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ"]),
    # Extra accounts servers a grant code may be exchanged at (an operator's emulator). Zoho's own, per data centre,
    # are built in (data_centres.py); the code (and our client secret) never goes anywhere else, nor to an account's
    # own server unless it is Zoho's or an operator set it (docs/security.md).
    "ACCOUNTS_SERVERS": ("list", []),
    # --- "Sign in with Zoho" ------------------------------------------------------------------------------------
    # Leadline's own Zoho OAuth client (API console, server-based, "Multi-DC" on); empty: sign-in is off. DEBUG uses
    # the sandbox's demo client. Its redirect URI: empty means PUBLIC_BASE_URL/auth/zoho/callback.
    "SIGNIN_CLIENT_ID": ("str", demo_when_debug("1000.DEMOCLIENTID", "")),
    "SIGNIN_CLIENT_SECRET": ("str", demo_when_debug("demo-zoho-client-secret", "")),
    "SIGNIN_ACCOUNTS_URL": ("str", _signin_accounts_url),
    "SIGNIN_REDIRECT_URI": ("str", ""),
    # --- Token broker -------------------------------------------------------------------------------------------
    # Access tokens live 1 h; we stop using one this many seconds before Zoho says it expires.
    "TOKEN_EXPIRY_MARGIN_SECONDS": ("int", 300),
    # Zoho mints at most 10 access tokens per refresh token per 10 minutes; we never ask for more than this.
    "TOKEN_REFRESHES_PER_WINDOW": ("int", 10),
    "TOKEN_REFRESH_WINDOW_SECONDS": ("int", 600),
    # How long a process waits for another one's refresh before giving up (ZohoTokenUnavailable).
    "TOKEN_LOCK_WAIT_SECONDS": ("float", 20.0),
    # After Zoho throttles the token endpoint, nobody asks again for this long.
    "TOKEN_THROTTLE_COOLDOWN_SECONDS": ("int", 60),
    "ACCOUNTS_TIMEOUT_SECONDS": ("float", 10.0),
    # --- API client ---------------------------------------------------------------------------------------------
    "HTTP_CONNECT_TIMEOUT_SECONDS": ("float", 5.0),
    "HTTP_READ_TIMEOUT_SECONDS": ("float", 30.0),
    # Retries for 429, 5xx and timeouts: waits of base * 2**n (1, 2, 4, 8, 16 s) plus up to `jitter` of each.
    "RETRY_ATTEMPTS": ("int", 5),
    "RETRY_BASE_SECONDS": ("float", 1.0),
    "RETRY_JITTER": ("float", 0.25),
    # Simultaneous calls per Zoho org across every process (Zoho allows 10-25 by edition: docs/vendors/zoho-crm.md,
    # Limits and errors).
    "CONCURRENCY_PER_ORG": ("int", 5),
    "CONCURRENCY_WAIT_SECONDS": ("float", 30.0),
    # The org's rolling 24 h API-credit pool (per edition; a connection may override it), and the share of it
    # background work may use, so a staff member's send still has credits.
    "API_CREDITS_PER_DAY": ("int", 50_000),
    "BACKGROUND_CREDIT_SHARE": ("float", 0.8),
    "CREDIT_BUCKET_SECONDS": ("int", 900),
    # --- Zoho Voice (messaging/providers/zoho_voice/) -------------------------------------------------------------
    # Seconds a send may take before it counts as "down" and the send fails over.
    "VOICE_TIMEOUT_SECONDS": ("float", 10.0),
    # How far back each SMS-log poll overlaps the last one (the poll's interval is in the beat schedule).
    "VOICE_POLL_OVERLAP_SECONDS": ("int", 600),
}


class ZohoSettings(VendorSettings):
    """`zoho_settings.<NAME>`: the Django setting ZOHO_<NAME>, else the environment variable, else the default."""

    prefix = "ZOHO"
    label = "Zoho"
    declared = SETTINGS
    env = _env


zoho_settings = ZohoSettings()
