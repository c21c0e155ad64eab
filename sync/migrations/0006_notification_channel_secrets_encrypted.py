"""Notification-channel secrets at rest: the token and the URL secret encrypted (both are sent to Zoho again at every
renewal, so a digest alone would not do), and a SHA-256 digest of the URL secret to look callbacks up by.

Existing rows are converted in place; their values do not change, so the channels live at Zoho keep working (same
notify URL, same token). A stored value longer than the old columns allowed (50 and 64 characters) is already a
Fernet token, so running the conversion again changes nothing."""

import hashlib

from django.db import migrations, models
from django.db.models.functions import Cast

import core.secrets

PLAIN_MAX_LENGTH = 64  # the old url_secret column; the token's was 50. Fernet tokens of these are over 100.


def _raw_rows(apps):
    channel = apps.get_model("sync", "NotificationChannel")
    manager = channel._base_manager  # every organization's row: a migration
    raw = {"raw_token": Cast("token", models.TextField()), "raw_url_secret": Cast("url_secret", models.TextField())}
    return manager, manager.annotate(**raw).values("pk", "raw_token", "raw_url_secret", "url_secret_digest")


def _text(value: str) -> models.Value:
    return models.Value(value, output_field=models.TextField())  # as stored: no field preparation


def encrypt_plain_secrets(apps, schema_editor):
    manager, rows = _raw_rows(apps)
    for row in list(rows):
        updates = {}
        url_secret = row["raw_url_secret"] or ""
        for name in ("token", "url_secret"):
            value = row[f"raw_{name}"] or ""
            if value and len(value) <= PLAIN_MAX_LENGTH:
                updates[name] = _text(core.secrets.encrypt(value))
        if url_secret and len(url_secret) > PLAIN_MAX_LENGTH:
            url_secret = core.secrets.decrypt(url_secret)
        if url_secret and not row["url_secret_digest"]:
            updates["url_secret_digest"] = hashlib.sha256(url_secret.encode()).hexdigest()
        if updates:
            manager.filter(pk=row["pk"]).update(**updates)


def decrypt_secrets(apps, schema_editor):
    manager, rows = _raw_rows(apps)
    for row in list(rows):
        updates = {}
        for name in ("token", "url_secret"):
            value = row[f"raw_{name}"] or ""
            if len(value) > PLAIN_MAX_LENGTH:
                updates[name] = _text(core.secrets.decrypt(value))
        if updates:
            manager.filter(pk=row["pk"]).update(**updates)


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0005_indexes_unique_key_first"),
    ]

    operations = [
        migrations.AddField(
            model_name="notificationchannel",
            name="url_secret_digest",
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="notificationchannel",
            name="token",
            field=core.secrets.EncryptedSecretField(),
        ),
        migrations.AlterField(
            model_name="notificationchannel",
            name="url_secret",
            field=core.secrets.EncryptedSecretField(),
        ),
        migrations.RunPython(encrypt_plain_secrets, decrypt_secrets),
    ]
