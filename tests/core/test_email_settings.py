"""Alert e-mail: transport and sender come from the environment (EMAIL_URL, DEFAULT_FROM_EMAIL, SERVER_EMAIL)."""

import json

import pytest
from cryptography.fernet import Fernet

from tests.processes import clean_env, manage

pytestmark = pytest.mark.slow

PRODUCTION = {
    "SECRET_KEY": "k3y-" + "x1y2z3" * 12,
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "leadline.example.com",
    "PUBLIC_BASE_URL": "https://leadline.example.com",
    "DATABASE_URL": "sqlite://:memory:",
}
NAMES = (
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "DEFAULT_FROM_EMAIL",
    "SERVER_EMAIL",
)


def email_settings(**env: str) -> dict:
    script = (
        "import json; from django.conf import settings;"
        f"print(json.dumps({{n: getattr(settings, n) for n in {NAMES!r}}}))"
    )
    result = manage("shell", "--no-imports", "-c", script, env=clean_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_email_url_configures_the_transport_and_the_senders_are_set():
    found = email_settings(
        **PRODUCTION,
        EMAIL_URL="smtp+tls://alerts%40leadline.example.com:pa%24%24word@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="Leadline <alerts@leadline.example.com>",
        SERVER_EMAIL="errors@leadline.example.com",
    )
    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (found["EMAIL_HOST"], found["EMAIL_PORT"]) == ("smtp.example.com", 587)
    assert (found["EMAIL_HOST_USER"], found["EMAIL_HOST_PASSWORD"]) == ("alerts@leadline.example.com", "pa$$word")
    assert found["EMAIL_USE_TLS"] is True
    assert found["DEFAULT_FROM_EMAIL"] == "Leadline <alerts@leadline.example.com>"
    assert found["SERVER_EMAIL"] == "errors@leadline.example.com"


def test_implicit_tls_on_465():
    found = email_settings(**PRODUCTION, EMAIL_URL="smtp+ssl://u:p@smtp.example.com:465")
    assert found["EMAIL_USE_SSL"] is True
    assert found["EMAIL_USE_TLS"] is False


def test_the_sender_is_never_webmaster_at_localhost():
    found = email_settings(**PRODUCTION)
    assert "localhost" not in found["DEFAULT_FROM_EMAIL"]
    assert found["DEFAULT_FROM_EMAIL"] == "Leadline <leadline@leadline.example.com>"
    assert found["SERVER_EMAIL"] == found["DEFAULT_FROM_EMAIL"]


def test_debug_prints_mail_to_the_console_by_default(tmp_path):
    found = email_settings(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert found["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_a_malformed_email_url_stops_start_up():
    result = manage("check", env=clean_env(**PRODUCTION, EMAIL_URL="carrier-pigeon://coop"))
    assert result.returncode != 0
    assert "EMAIL_URL" in result.stderr


def test_check_deploy_warns_when_alert_mail_has_no_transport():
    env = {**PRODUCTION, "SYNC_ALERT_EMAILS": "ops@leadline.example.com"}
    warned = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**env))
    assert "sync.W001" in warned.stderr + warned.stdout
    configured = manage("check", "--deploy", env=clean_env(**env, EMAIL_URL="smtp+tls://u:p@smtp.example.com:587"))
    assert "sync.W001" not in configured.stderr + configured.stdout
