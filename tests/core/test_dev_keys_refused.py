"""With DEBUG off, the process refuses to start with a signing or encryption key published in this repository."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    PUBLISHED_DEV_FIELD_ENCRYPTION_KEYS,
    PUBLISHED_DEV_SECRET_KEYS,
    PUBLISHED_TEST_FIELD_ENCRYPTION_KEYS,
    PUBLISHED_TEST_SECRET_KEYS,
    published_keys_refuse,
)
from config.settings import base
from tests.processes import clean_env, manage

OWN_SECRET = "k3y-" + "x1y2z3" * 12
OWN_FERNET = Fernet.generate_key().decode()
DEV_SECRET = next(iter(PUBLISHED_DEV_SECRET_KEYS))
DEV_FERNET = next(iter(PUBLISHED_DEV_FIELD_ENCRYPTION_KEYS))


def test_the_settings_defaults_are_on_the_published_list():
    assert base._DEV_SECRET_KEY in PUBLISHED_DEV_SECRET_KEYS
    assert base._DEV_FIELD_ENCRYPTION_KEY in PUBLISHED_DEV_FIELD_ENCRYPTION_KEYS


def test_own_keys_pass_and_debug_may_use_the_dev_keys():
    published_keys_refuse(debug=False, secret_key=OWN_SECRET, field_encryption_keys=[OWN_FERNET])
    published_keys_refuse(debug=True, secret_key=DEV_SECRET, field_encryption_keys=[DEV_FERNET])


def test_a_published_secret_key_is_refused_with_debug_off():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is a development key published"):
        published_keys_refuse(debug=False, secret_key=DEV_SECRET, field_encryption_keys=[OWN_FERNET])


def test_a_published_fernet_key_is_refused_in_any_position():
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS entry 2 is a development key"):
        published_keys_refuse(debug=False, secret_key=OWN_SECRET, field_encryption_keys=[OWN_FERNET, DEV_FERNET])


def test_the_test_keys_are_allowed_only_under_the_test_settings(monkeypatch):
    test_secret = next(iter(PUBLISHED_TEST_SECRET_KEYS))
    test_fernets = sorted(PUBLISHED_TEST_FIELD_ENCRYPTION_KEYS)
    published_keys_refuse(debug=False, secret_key=test_secret, field_encryption_keys=test_fernets)  # this run
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "config.settings.base")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is a development key"):
        published_keys_refuse(debug=False, secret_key=test_secret, field_encryption_keys=[OWN_FERNET])
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS entry 1"):
        published_keys_refuse(debug=False, secret_key=OWN_SECRET, field_encryption_keys=test_fernets)


PRODUCTION = {
    "ALLOWED_HOSTS": "leadline.example.com",
    "PUBLIC_BASE_URL": "https://leadline.example.com",
    "DATABASE_URL": "sqlite://:memory:",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": DEV_SECRET, "FIELD_ENCRYPTION_KEYS": OWN_FERNET}, "SECRET_KEY is a development key"),
        ({"SECRET_KEY": OWN_SECRET, "FIELD_ENCRYPTION_KEYS": DEV_FERNET}, "FIELD_ENCRYPTION_KEYS entry 1"),
    ],
)
def test_production_refuses_to_start_with_a_published_key(variables, message):
    result = manage("check", env=clean_env(**PRODUCTION, **variables))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
