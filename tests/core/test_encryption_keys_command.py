"""Operators: the first encryption key can be generated before any exists, and a malformed key stops start-up."""

import sys

import pytest
from cryptography.fernet import Fernet

from tests.processes import PROJECT_DIR, clean_env, manage

pytestmark = pytest.mark.slow

PRODUCTION = {
    "SECRET_KEY": "k3y-" + "x1y2z3" * 12,
    "ALLOWED_HOSTS": "leadline.example.com",
    "PUBLIC_BASE_URL": "https://leadline.example.com",
    "DATABASE_URL": "sqlite://:memory:",
}
BAD_KEY = "not-a-fernet-key-but-a-password-s3cr3t"


def test_generate_works_on_a_fresh_install_with_no_key_and_debug_off():
    result = manage("encryption_keys", "generate", env=clean_env())  # no SECRET_KEY, no FIELD_ENCRYPTION_KEYS
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    Fernet(key.encode())  # a usable key, alone on its line
    assert result.stdout == key + "\n"


def test_generate_works_while_the_configured_keys_are_malformed():
    result = manage("encryption_keys", "generate", env=clean_env(**PRODUCTION, FIELD_ENCRYPTION_KEYS=BAD_KEY))
    assert result.returncode == 0, result.stderr
    Fernet(result.stdout.strip().encode())


@pytest.mark.parametrize("position", [1, 2])
def test_a_malformed_key_stops_start_up_naming_its_position_not_the_key(position):
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    keys[position - 1] = BAD_KEY
    env = clean_env(**PRODUCTION, FIELD_ENCRYPTION_KEYS=",".join(keys))
    # Start-up as the web (WSGI), the worker and every command see it: django.setup().
    script = "import django; django.setup(); print('started')"
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert f"FIELD_ENCRYPTION_KEYS: key {position} of 2 is not a Fernet key" in result.stderr
    assert BAD_KEY not in result.stderr
    assert keys[2 - position] not in result.stderr
    check = manage("check", env=env)
    assert check.returncode != 0
    assert f"key {position} of 2" in check.stderr
    assert BAD_KEY not in check.stderr


def test_well_formed_keys_start():
    keys = ",".join([Fernet.generate_key().decode(), Fernet.generate_key().decode()])
    result = manage("check", env=clean_env(**PRODUCTION, FIELD_ENCRYPTION_KEYS=keys))
    assert result.returncode == 0, result.stderr
