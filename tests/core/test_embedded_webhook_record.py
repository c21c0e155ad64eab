"""The embedded default (SQLite) records webhooks too: `webhook_record`'s one INSERT ... ON CONFLICT statement is
written in SQL, and the suite runs on PostgreSQL, so this runs it on SQLite in a process of its own."""

import pytest

from tests.processes import clean_env, manage

pytestmark = pytest.mark.slow

RECORD_TWICE = """
from core.models import InboundEvent
from core.webhooks import webhook_record
first, created = webhook_record(source="twilio.sms", key="SM1", payload={"Body": "hi\\x00"}, raw_body=b"Body=hi%00")
again, created_again = webhook_record(source="twilio.sms", key="SM1", payload={"Body": "hi"})
stored = InboundEvent.objects.get()
same = stored.pk == first.pk
print("RESULT", created, created_again, again, same, repr(stored.payload["Body"]), bytes(stored.raw_body))
"""


def test_a_webhook_is_recorded_once_on_the_embedded_database(tmp_path):
    env = clean_env(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "celery"),
    )
    migrated = manage("migrate", "--noinput", env=env, timeout=180)
    assert migrated.returncode == 0, migrated.stderr
    result = manage("shell", "-c", RECORD_TWICE, env=env)
    assert result.returncode == 0, result.stderr
    assert "RESULT True False None True 'hi' b'Body=hi%00'" in result.stdout, result.stdout + result.stderr
