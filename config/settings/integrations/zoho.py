"""Zoho CRM and Zoho Accounts settings (the Zoho issue): OAuth, token broker, API client limits."""

from config.env import env

# --- OAuth ("Connect Zoho") -----------------------------------------------------------------------------------
# Where Zoho sends people back after consent; must be registered with the OAuth client in Zoho's API console.
# Empty means PUBLIC_BASE_URL + /zoho/oauth/callback/.
ZOHO_OAUTH_REDIRECT_URI = env.str("ZOHO_OAUTH_REDIRECT_URI", default="")
ZOHO_CRM_SCOPES = env.list(
    "ZOHO_CRM_SCOPES",
    default=[
        "ZohoCRM.modules.ALL",
        "ZohoCRM.settings.ALL",
        "ZohoCRM.users.READ",
        "ZohoCRM.org.READ",
        "ZohoCRM.coql.READ",
        "ZohoCRM.bulk.ALL",
        "ZohoCRM.notifications.ALL",
    ],
)
ZOHO_VOICE_SCOPES = env.list("ZOHO_VOICE_SCOPES", default=["ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ"])
# Extra accounts servers a grant code may be exchanged at (an operator's emulator). Zoho's own, per data centre,
# are built in (core/outbound.py); the code (and our client secret) never goes anywhere else, nor to an account's
# own server unless it is Zoho's or an operator set it (docs/security.md).
ZOHO_ACCOUNTS_SERVERS = env.list("ZOHO_ACCOUNTS_SERVERS", default=[])

# --- Token broker ---------------------------------------------------------------------------------------------
# Access tokens live 1 h; we stop using one this many seconds before Zoho says it expires.
ZOHO_TOKEN_EXPIRY_MARGIN_SECONDS = env.int("ZOHO_TOKEN_EXPIRY_MARGIN_SECONDS", default=300)
# Zoho mints at most 10 access tokens per refresh token per 10 minutes; we never ask for more than this.
ZOHO_TOKEN_REFRESHES_PER_WINDOW = env.int("ZOHO_TOKEN_REFRESHES_PER_WINDOW", default=10)
ZOHO_TOKEN_REFRESH_WINDOW_SECONDS = env.int("ZOHO_TOKEN_REFRESH_WINDOW_SECONDS", default=600)
# How long a process waits for another one's refresh before giving up (ZohoTokenUnavailable).
ZOHO_TOKEN_LOCK_WAIT_SECONDS = env.float("ZOHO_TOKEN_LOCK_WAIT_SECONDS", default=20.0)
# After Zoho throttles the token endpoint, nobody asks again for this long.
ZOHO_TOKEN_THROTTLE_COOLDOWN_SECONDS = env.int("ZOHO_TOKEN_THROTTLE_COOLDOWN_SECONDS", default=60)
ZOHO_ACCOUNTS_TIMEOUT_SECONDS = env.float("ZOHO_ACCOUNTS_TIMEOUT_SECONDS", default=10.0)

# --- API client -----------------------------------------------------------------------------------------------
ZOHO_HTTP_CONNECT_TIMEOUT_SECONDS = env.float("ZOHO_HTTP_CONNECT_TIMEOUT_SECONDS", default=5.0)
ZOHO_HTTP_READ_TIMEOUT_SECONDS = env.float("ZOHO_HTTP_READ_TIMEOUT_SECONDS", default=30.0)
# Retries for 429, 5xx and timeouts: waits of base * 2**n (1, 2, 4, 8, 16 s) plus up to `jitter` of each.
ZOHO_RETRY_ATTEMPTS = env.int("ZOHO_RETRY_ATTEMPTS", default=5)
ZOHO_RETRY_BASE_SECONDS = env.float("ZOHO_RETRY_BASE_SECONDS", default=1.0)
ZOHO_RETRY_JITTER = env.float("ZOHO_RETRY_JITTER", default=0.25)
# Simultaneous calls per Zoho org across every process (Zoho allows 10-25 by edition: docs/vendors/zoho-crm.md,
# Limits and errors).
ZOHO_CONCURRENCY_PER_ORG = env.int("ZOHO_CONCURRENCY_PER_ORG", default=5)
ZOHO_CONCURRENCY_WAIT_SECONDS = env.float("ZOHO_CONCURRENCY_WAIT_SECONDS", default=30.0)
# The org's rolling 24 h API-credit pool (per edition; a connection may override it), and the share of it
# background work may use, so a staff member's send still has credits.
ZOHO_API_CREDITS_PER_DAY = env.int("ZOHO_API_CREDITS_PER_DAY", default=50_000)
ZOHO_BACKGROUND_CREDIT_SHARE = env.float("ZOHO_BACKGROUND_CREDIT_SHARE", default=0.8)
ZOHO_CREDIT_BUCKET_SECONDS = env.int("ZOHO_CREDIT_BUCKET_SECONDS", default=900)

__all__ = [
    "ZOHO_ACCOUNTS_SERVERS",
    "ZOHO_ACCOUNTS_TIMEOUT_SECONDS",
    "ZOHO_API_CREDITS_PER_DAY",
    "ZOHO_BACKGROUND_CREDIT_SHARE",
    "ZOHO_CONCURRENCY_PER_ORG",
    "ZOHO_CONCURRENCY_WAIT_SECONDS",
    "ZOHO_CREDIT_BUCKET_SECONDS",
    "ZOHO_CRM_SCOPES",
    "ZOHO_HTTP_CONNECT_TIMEOUT_SECONDS",
    "ZOHO_HTTP_READ_TIMEOUT_SECONDS",
    "ZOHO_OAUTH_REDIRECT_URI",
    "ZOHO_RETRY_ATTEMPTS",
    "ZOHO_RETRY_BASE_SECONDS",
    "ZOHO_RETRY_JITTER",
    "ZOHO_TOKEN_EXPIRY_MARGIN_SECONDS",
    "ZOHO_TOKEN_LOCK_WAIT_SECONDS",
    "ZOHO_TOKEN_REFRESHES_PER_WINDOW",
    "ZOHO_TOKEN_REFRESH_WINDOW_SECONDS",
    "ZOHO_TOKEN_THROTTLE_COOLDOWN_SECONDS",
    "ZOHO_VOICE_SCOPES",
]
