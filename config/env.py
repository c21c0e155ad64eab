"""One `env` for all settings; a `.env` file is read only when asked, so production never picks one up by accident."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    environ.Env.read_env(str(BASE_DIR / ".env"))


# Development and test keys published in this repository (settings defaults, test settings). Anyone can read them,
# so with DEBUG off they are refused: a deployment started with one would sign cookies and encrypt provider
# secrets with a key the whole world has. The test keys are allowed only under the test settings.
PUBLISHED_DEV_SECRET_KEYS = frozenset({"dev-only-insecure-secret-key-do-not-use-in-production-0123456789"})
PUBLISHED_DEV_FIELD_ENCRYPTION_KEYS = frozenset({"ZGV2LW9ubHktaW5zZWN1cmUtZmllbGQta2V5LTAwMDA="})
PUBLISHED_TEST_SECRET_KEYS = frozenset({"test-secret-key-not-for-production-0123456789-abcdefghijklmnop"})
PUBLISHED_TEST_FIELD_ENCRYPTION_KEYS = frozenset(
    {"dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS1uZXdlc3Q=", "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS1vbGRlc3Q="}
)
TEST_SETTINGS_MODULE = "config.settings.test"


def published_keys_refuse(*, debug: bool, secret_key: str, field_encryption_keys: list[str]) -> None:
    """Raise ImproperlyConfigured when DEBUG is off and SECRET_KEY or any FIELD_ENCRYPTION_KEYS entry is a key
    published in this repository."""
    from django.core.exceptions import ImproperlyConfigured

    if debug:
        return
    secret_keys, field_keys = set(PUBLISHED_DEV_SECRET_KEYS), set(PUBLISHED_DEV_FIELD_ENCRYPTION_KEYS)
    if env.str("DJANGO_SETTINGS_MODULE", default="") != TEST_SETTINGS_MODULE:
        secret_keys |= PUBLISHED_TEST_SECRET_KEYS
        field_keys |= PUBLISHED_TEST_FIELD_ENCRYPTION_KEYS
    if secret_key.strip() in secret_keys:
        raise ImproperlyConfigured(
            "SECRET_KEY is a development key published with Leadline's source; with DEBUG off set a secret one "
            "(generate it with `make secret-key`)."
        )
    published = [index for index, key in enumerate(field_encryption_keys, start=1) if key.strip() in field_keys]
    if published:
        raise ImproperlyConfigured(
            f"FIELD_ENCRYPTION_KEYS entry {', '.join(map(str, published))} is a development key published with "
            "Leadline's source; with DEBUG off use keys of your own (`manage.py encryption_keys generate`). To move "
            "secrets already encrypted with it, run `manage.py encryption_keys rotate` once from a shell with "
            "DEBUG=true and the new key first, then remove the published one."
        )


def networks_check(name: str, values: list[str]) -> None:
    """Raise ImproperlyConfigured naming the first entry of a list setting that is not an address or network."""
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    for value in values:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network (e.g. 10.0.0.0/8)."
            ) from None
