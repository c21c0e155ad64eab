"""The notification channel's secrets are stored encrypted, callbacks are found by digest, and the rows stored in
plain text before are converted by the migration without changing what Zoho holds."""

from __future__ import annotations

import hashlib
import importlib
import time
from typing import Any

import pytest

from django.apps import apps
from django.db import connection

from core.secrets import decrypt
from sync.models import NotificationChannel
from sync.notifications import channel_ensure, notify_url

pytestmark = pytest.mark.django_db

migration = importlib.import_module("sync.migrations.0006_notification_channel_secrets_encrypted")
PLAIN_TOKEN = "plain-token-from-before-0006-aaaaaaaaaaaaaa"  # 43 characters, as token_urlsafe(32)
PLAIN_URL_SECRET = "plain-url-secret-from-before-0006-bbbbbbbbb"


def raw(channel: NotificationChannel) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token, url_secret, url_secret_digest FROM sync_notificationchannel WHERE id = %s", [channel.pk]
        )
        token, url_secret, digest = cursor.fetchone()
    return {"token": token, "url_secret": url_secret, "url_secret_digest": digest}


def sandbox_channels(server: Any) -> dict[str, Any]:
    org = next(iter(server.state.crm.orgs.values()))
    return {channel.channel_id: channel for channel in server.state.crm.watch.live(org.org_id)}


def notify(client, channel_id: int, key: str, token: str):
    body = {
        "server_time": int(time.time() * 1000),
        "module": "Leads",
        "ids": ["4150868000001234567"],
        "operation": "update",
        "channel_id": str(channel_id),
        "token": token,
    }
    return client.post(f"/webhooks/zoho/notifications/?key={key}", data=body, content_type="application/json")


def test_a_new_channel_keeps_its_secrets_encrypted_and_zoho_gets_the_plaintext(organization, account, empty_sandbox):
    channel = channel_ensure(organization=organization)
    token, url_secret = channel.token.reveal(), channel.url_secret.reveal()
    stored = raw(channel)
    assert token not in stored["token"]
    assert url_secret not in stored["url_secret"]
    assert decrypt(stored["token"]) == token
    assert decrypt(stored["url_secret"]) == url_secret
    assert stored["url_secret_digest"] == hashlib.sha256(url_secret.encode()).hexdigest()
    assert repr(channel.token) == "Secret('********')"
    live = sandbox_channels(empty_sandbox)[str(channel.channel_id)]
    assert live.token == token
    assert len(token) <= 50
    assert live.notify_url == notify_url(channel)
    assert live.notify_url.endswith(f"?key={url_secret}")


def test_callbacks_are_found_by_the_url_secret_and_checked_against_the_token(
    client, organization, account, empty_sandbox
):
    channel = channel_ensure(organization=organization)
    token, url_secret = channel.token.reveal(), channel.url_secret.reveal()
    assert notify(client, channel.channel_id, url_secret, token).status_code == 200
    assert notify(client, channel.channel_id, url_secret, token[:-1] + "x").status_code == 403
    assert notify(client, channel.channel_id, "x" + url_secret[1:], token).status_code == 404
    digest = raw(channel)["url_secret_digest"]
    assert notify(client, channel.channel_id, digest, token).status_code == 404  # the digest is not the key


def test_the_migration_encrypts_rows_stored_plain_and_zoho_s_callbacks_keep_working(
    client, organization, account, empty_sandbox
):
    channel = channel_ensure(organization=organization)
    with connection.cursor() as cursor:  # the row as it was stored before 0006
        cursor.execute(
            "UPDATE sync_notificationchannel SET token = %s, url_secret = %s, url_secret_digest = NULL WHERE id = %s",
            [PLAIN_TOKEN, PLAIN_URL_SECRET, channel.pk],
        )

    migration.encrypt_plain_secrets(apps, None)

    stored = raw(channel)
    assert PLAIN_TOKEN not in stored["token"]
    assert PLAIN_URL_SECRET not in stored["url_secret"]
    assert decrypt(stored["token"]) == PLAIN_TOKEN
    assert decrypt(stored["url_secret"]) == PLAIN_URL_SECRET
    assert stored["url_secret_digest"] == hashlib.sha256(PLAIN_URL_SECRET.encode()).hexdigest()
    # The URL and token Zoho already has (from before the migration) are still ours.
    assert notify(client, channel.channel_id, PLAIN_URL_SECRET, PLAIN_TOKEN).status_code == 200
    # Run twice (a re-applied migration): nothing changes.
    migration.encrypt_plain_secrets(apps, None)
    assert raw(channel) == stored
    # Reversed: plain again, fitting the old columns.
    migration.decrypt_secrets(apps, None)
    assert raw(channel)["token"] == PLAIN_TOKEN
    assert raw(channel)["url_secret"] == PLAIN_URL_SECRET


def test_the_migration_leaves_a_table_without_channels_alone(db):
    migration.encrypt_plain_secrets(apps, None)
    assert not NotificationChannel.objects.unscoped().exists()
