"""Configuration: production refuses to start half-configured, and `check --deploy` has nothing to say."""

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


def test_production_settings_pass_check_deploy_with_nothing_to_report():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_secret(missing):
    env = clean_env(**{k: v for k, v in PRODUCTION.items() if k != missing})
    result = manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr


def test_debug_runs_with_no_configuration_at_all(tmp_path):
    result = manage("check", env=clean_env(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    assert result.returncode == 0, result.stderr


def test_the_embedded_default_is_sqlite_and_the_filesystem_broker(tmp_path):
    script = (
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE']);"
        "print(settings.CELERY_BROKER_URL);"
        "print(settings.CELERY_RESULT_BACKEND.split('://')[0])"
    )
    result = manage("shell", "--no-imports", "-c", script, env=clean_env(DEBUG="true"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://localhost/", "file"]


def test_redis_url_switches_broker_results_and_cache_to_redis():
    script = (
        "from django.conf import settings;"
        "print(settings.CELERY_BROKER_URL);"
        "print(settings.CELERY_RESULT_BACKEND);"
        "print(settings.CACHES['default']['BACKEND'])"
    )
    result = manage(
        "shell", "--no-imports", "-c", script, env=clean_env(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/3")
    )
    assert result.stdout.split() == [
        "redis://127.0.0.1:6379/3",
        "redis://127.0.0.1:6379/3",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_celery_is_configured_for_json_late_acks_time_limits_and_queues(settings):
    from config.celery import app

    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.result_serializer == "json"
    assert conf.task_acks_late is True
    assert conf.task_soft_time_limit == 60
    assert conf.task_time_limit == 300
    assert app.amqp.router.route({}, "messaging.tasks.message_send_task")["queue"].name == "messaging"
    assert app.amqp.router.route({}, "sync.tasks.module_sync_task")["queue"].name == "sync"
    assert app.amqp.router.route({}, "core.tasks.ping_task")["queue"].name == "default"
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert conf.task_always_eager is False
