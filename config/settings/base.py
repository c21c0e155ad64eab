"""Settings for every environment. Production differs from development only by environment variables.

The embedded default (no variables at all, DEBUG on) runs on SQLite with a filesystem message broker, so
`make run` needs no server. Every variable is listed, with a comment, in `.env.example`.
"""

from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, env, networks_check, published_keys_refuse
from crm import providers as crm_providers

DEBUG = env.bool("DEBUG", default=False)

# --- Secrets -------------------------------------------------------------------------------------------------
# A development key exists only with DEBUG on; production refuses to start without a real one.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env("SECRET_KEY", default="") or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (generate one with `make secret-key`).")

# Fernet keys for secrets at rest (provider tokens, client secrets). Comma-separated, newest first: the first
# encrypts, all decrypt, so a key can be rotated in with `manage.py encryption_keys rotate`.
_DEV_FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktaW5zZWN1cmUtZmllbGQta2V5LTAwMDA="
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or ([_DEV_FIELD_ENCRYPTION_KEY] if DEBUG else [])
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off (generate one with `manage.py encryption_keys generate`)."
    )
# The keys above (and the test settings' keys) are public: with DEBUG off, refuse to start with any of them.
published_keys_refuse(debug=DEBUG, secret_key=SECRET_KEY, field_encryption_keys=FIELD_ENCRYPTION_KEYS)

# --- Hosts and URLs --------------------------------------------------------------------------------------------
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
# The public origin the vendors call us on. Webhook signatures are checked against this, never against the
# Host header, because a TLS-terminating proxy changes scheme and host (Twilio error 57012).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

# Where the local sandbox (emulated CRMs and SMS providers) listens; the demo organization points at it.
SANDBOX_URL = env.str("SANDBOX_URL", default="http://127.0.0.1:8100").rstrip("/")
# The sandbox's HTTPS listener (a self-signed certificate it makes at start, kept in SANDBOX_TLS_DIR): it stands in
# for Microsoft Entra ID's login host, which msal only accepts over https.
SANDBOX_TLS_URL = env.str("SANDBOX_TLS_URL", default="https://127.0.0.1:8143").rstrip("/")
SANDBOX_TLS_DIR = env.str("SANDBOX_TLS_DIR", default=str(BASE_DIR / "var" / "sandbox-tls"))
# Vendor requests (and provider-account URLs an operator sets) may go to private, loopback and link-local addresses
# only with this on: the local sandbox and test emulators. Off in production, so no tenant's setting and no DNS
# answer can make the server call an internal address (core/outbound.py, docs/security.md).
OUTBOUND_ALLOW_PRIVATE_HOSTS = env.bool("OUTBOUND_ALLOW_PRIVATE_HOSTS", default=DEBUG)

# --- Applications ----------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "core.apps.LeadlineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # static files of Swagger UI (SPECTACULAR_SETTINGS)
    "django_celery_beat",
    "django_structlog",
    "core",
    "studios",
    "crm",  # the CRM layer: provider interface, errors, registry; one package per CRM in crm/providers/
    "messaging",
    "automation",
    *crm_providers.installed_apps(),  # each CRM package (its own settings in its conf.py), found by listing
    "sync",
    "links",  # two-way sync between two CRM connections of one organization, driven by the mirror (sync)
    "identity",
    "widget",  # no models: its page's template and static files (widget/templates/, widget/static/)
    "tenants",  # the tenants file and the demo (manage.py tenants, manage.py demo): the top layer, above every app
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Webhook views leave here for WEBHOOK_MIDDLEWARE alone: the browser's middleware below is nothing to them.
    "core.middleware.WebhookPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "identity.middleware.MovedBackendSessionMiddleware",  # one release: sessions from before identity/ stay signed in
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Signs out an idle session that can reach the admin (SESSION_IDLE_TIMEOUT), before anything reads the user.
    "core.middleware.SessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication, so every log line of a request carries its request id, user id and client address
    # (django-structlog's, with the address taken from trusted proxies only: core.client_address).
    "core.middleware.RequestLogMiddleware",
    "core.middleware.RequestIdHeaderMiddleware",
]
# What a webhook (a signed POST from a machine: no session, user, messages or CSRF) runs through after the
# middleware above WebhookPathMiddleware: one request log line (redacted) and the request id, and the same headers.
WEBHOOK_MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.WebhookRequestLogMiddleware",
    "core.middleware.RequestIdHeaderMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "core.User"
# Staff sign in here with a password (or with their CRM); the admin keeps its own login page.
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/app/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share the file in the embedded default: WAL lets readers run beside the writer,
    # and IMMEDIATE transactions queue writers behind a lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    # Opening a connection per request costs more than the request itself (STYLE.md §4): keep them, checked.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -----------------------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # The embedded default shares its cache across processes through the database (locks, token caches).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "leadline_cache"}}

# --- Sessions --------------------------------------------------------------------------------------------------
if REDIS_URL:
    # Every signed-in request reads its session: from Redis, written through to the database (which stays the
    # record: a flushed cache signs nobody out). Sign-out deletes both, so an ended session ends at once.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Auth ------------------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Email and password; a session's user comes with their membership in one query (the API needs both).
    "identity.backends.MemberBackend",
    # Only for sessions signed in before MemberBackend, which name this one; MemberBackend ends a failed sign-in.
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed sign-ins (identity/throttle.py; the admin and staff logins, the widget's bearer tokens): after this many
# failures within the window, an account (e-mail) or a client address is refused for the window, without a
# password check, with "Too many failed sign-ins; try again in N minutes". A success clears the account's count.
ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT = env.int("ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT", default=5)
ACCOUNTS_SIGN_IN_FAILURES_PER_ADDRESS = env.int("ACCOUNTS_SIGN_IN_FAILURES_PER_ADDRESS", default=20)
ACCOUNTS_SIGN_IN_WINDOW_SECONDS = env.int("ACCOUNTS_SIGN_IN_WINDOW_SECONDS", default=15 * 60)
# A session that can reach the admin (operators, managers) ends after this many seconds without a request.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)

# Signing in with a CRM: each CRM package's own OAuth client settings are in its conf.py (.env.example lists them).
# A widget token lives one working shift at most: a member signs in once per shift, and a token that leaks from
# the widget's memory (it is readable by script there, unlike an HttpOnly cookie) is dead by the next one.
ACCOUNTS_WIDGET_TOKEN_SECONDS = env.int("ACCOUNTS_WIDGET_TOKEN_SECONDS", default=8 * 3600)

# --- Internationalisation --------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security (production defaults; `manage.py check --deploy` reports nothing with DEBUG off) ------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Our reverse proxies (core/client_address.py): X-Forwarded-For is read only when the peer is one of them, from the
# right. Addresses or networks; or, where the proxies' addresses are not known (a PaaS router), how many stand in
# front of the app. Neither set: the peer is the client and the header is ignored (logs, sign-in throttle).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
networks_check("TRUSTED_PROXIES", TRUSTED_PROXIES)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load-balancer probes speak plain HTTP to the process; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^readyz/background$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Django's "same-origin" would cut window.opener of the sign-in-with-a-CRM popup (it passes through the CRM's origin)
# and the token could never reach the page that opened it. A cross-origin opener still gets no handle on our pages.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin-allow-popups"

# --- E-mail (sync alerts, error mail) ---------------------------------------------------------------------------
# EMAIL_URL as django-environ reads it: smtp+tls://USER:PASSWORD@HOST:587 (STARTTLS), smtp+ssl://…:465 (implicit
# TLS), consolemail:// (print), dummymail:// (drop); characters like @ in the user or password are %-encoded. With
# DEBUG, mail is printed to the console unless EMAIL_URL says otherwise; without DEBUG, Django's localhost:25.
for _name, _value in env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25").items():
    if _value is not None:
        globals()[_name] = _value
# The sender of alerts; Django's own default (webmaster@localhost) is refused by most mail servers.
_PUBLIC_HOST = PUBLIC_BASE_URL.split("://", 1)[-1].split("/")[0].split(":")[0]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"Leadline <leadline@{_PUBLIC_HOST}>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)  # the sender of Django's error mail to ADMINS

# --- REST framework --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Leadline API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets from drf-spectacular-sidecar, served by us: /api/docs/ works offline and under a CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the template keys used in a send request and in the template list.
    "ENUM_NAME_OVERRIDES": {"MessageTemplateEnum": "widget.api.templates.TEMPLATE_KEYS"},
}

from config.settings.integrations.celery import *  # noqa: E402, F403
from config.settings.integrations.logging import *  # noqa: E402, F403
from config.settings.integrations.messaging import *  # noqa: E402, F403
from config.settings.integrations.sentry import *  # noqa: E402, F403
from config.settings.integrations.sync import *  # noqa: E402, F403
