"""Test settings: the real thing (PostgreSQL, Redis) with fast password hashing and fixed encryption keys."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789-abcdefghijklmnop")
# Two keys: tests rotate from the second to the first.
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS1uZXdlc3Q=,dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS1vbGRlc3Q=",
)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadline")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# Each pytest-xdist worker gets its own Redis database (15, 14, ...): tests clear the cache and run brokers, and
# one worker's flush must never wipe another's locks, tokens or queued tasks.
# Done once per worker: processes a test starts inherit the shifted URL and the marker, and must not shift again.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if (
    _xdist_worker.startswith("gw")
    and _xdist_worker[2:].isdigit()
    and os.environ.get("LEADLINE_TEST_REDIS_WORKER") != _xdist_worker
):
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    if _db.isdigit():
        os.environ["REDIS_URL"] = f"{_base}/{(int(_db) - int(_xdist_worker[2:])) % 16}"
        os.environ["LEADLINE_TEST_REDIS_WORKER"] = _xdist_worker
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("PUBLIC_BASE_URL", "https://leadline.test")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from config.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# The sandbox and the emulators listen on 127.0.0.1 (DEBUG is off here, so this is not on by default).
OUTBOUND_ALLOW_PRIVATE_HOSTS = True
# Static files come from the app folders in tests; nothing has been collected.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A check of the dispatch key per webhook, as a test expects right after its request (the coalescing window is
# tested in tests/core/test_webhook_dispatch.py).
WEBHOOK_DISPATCH_COALESCE_SECONDS = 0
