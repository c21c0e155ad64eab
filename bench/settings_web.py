"""Settings for `bench.inbound_webhook`: the production settings (DEBUG off, PostgreSQL, Redis, JSON logs, every
middleware) plus one app, `bench.webhook_baseline`, whose minimal view is the benchmark's baseline.

The product's URLconf is untouched: this module serves `bench.webhook_baseline.urls`, which is the product's
urlpatterns plus the baseline path. Never used outside the benchmark.
"""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuv")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "YmVuY2gtZmllbGQtZW5jcnlwdGlvbi1rZXktMDAwMDA=")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadline_bench_web")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/11")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
# Behind a TLS terminator in production; the load generator sends X-Forwarded-Proto: https like one.
os.environ.setdefault("PUBLIC_BASE_URL", "https://leadline.bench.test")

from config.settings.base import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench.webhook_baseline"]  # noqa: F405
ROOT_URLCONF = "bench.webhook_baseline.urls"
