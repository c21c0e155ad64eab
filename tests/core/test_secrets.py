"""Secrets at rest: Fernet under MultiFernet, never plaintext in the table, rotation by command."""

import io
import pickle

import pytest
from cryptography.fernet import Fernet

from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from core.secrets import DecryptionError, Secret, decrypt, encrypt, get_fernet
from studios.models import ProviderAccount
from tests.factories import TwilioAccountFactory, ZohoCrmAccountFactory

PLAINTEXT = "twilio-auth-token-value"


def raw_column(account, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM studios_provideraccount WHERE id = %s", [account.pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_a_secret_does_not_show_itself():
    secret = Secret("hunter2-but-longer")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2-but-longer"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_secrets_compare_by_value():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert not Secret("")


def test_the_table_holds_no_plaintext(db):
    account = TwilioAccountFactory(auth_token=PLAINTEXT)
    stored = raw_column(account, "auth_token")
    assert PLAINTEXT not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    reloaded = ProviderAccount.objects.unscoped().get(pk=account.pk)
    assert isinstance(reloaded.auth_token, Secret)
    assert reloaded.auth_token.reveal() == PLAINTEXT


def test_every_secret_column_is_encrypted(db):
    account = ZohoCrmAccountFactory(client_secret="client-secret-plain", refresh_token="refresh-token-plain")
    assert "client-secret-plain" not in raw_column(account, "client_secret")
    assert "refresh-token-plain" not in raw_column(account, "refresh_token")


def test_empty_secrets_stay_empty(db):
    account = TwilioAccountFactory(auth_token="")
    assert raw_column(account, "auth_token") == ""
    assert ProviderAccount.objects.unscoped().get(pk=account.pk).auth_token == ""


def test_dumpdata_never_writes_a_secret(db):
    TwilioAccountFactory(auth_token=PLAINTEXT)
    out = io.StringIO()
    call_command("dumpdata", "studios.provideraccount", stdout=out)
    assert PLAINTEXT not in out.getvalue()


def test_rotation_re_encrypts_under_the_newest_key_so_old_keys_can_go(db, settings):
    newest, oldest = settings.FIELD_ENCRYPTION_KEYS
    settings.FIELD_ENCRYPTION_KEYS = [oldest]  # secrets written before the new key existed
    account = ZohoCrmAccountFactory(client_secret="before-rotation", refresh_token="refresh-before")
    before = raw_column(account, "client_secret")

    settings.FIELD_ENCRYPTION_KEYS = [newest, oldest]  # the new key is deployed first in the list
    out = io.StringIO()
    call_command("encryption_keys", "rotate", stdout=out)
    assert "studios.ProviderAccount: 2 secret(s) re-encrypted" in out.getvalue()
    after = raw_column(account, "client_secret")
    assert after != before

    settings.FIELD_ENCRYPTION_KEYS = [newest]  # the old key is retired
    reloaded = ProviderAccount.objects.unscoped().get(pk=account.pk)
    assert reloaded.client_secret.reveal() == "before-rotation"
    assert reloaded.refresh_token.reveal() == "refresh-before"


def test_rotation_stops_and_changes_nothing_when_a_secret_cannot_be_decrypted(db, settings):
    newest, oldest = settings.FIELD_ENCRYPTION_KEYS
    settings.FIELD_ENCRYPTION_KEYS = [oldest]
    first = TwilioAccountFactory(auth_token="first-token")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    second = TwilioAccountFactory(auth_token="second-token")
    second_before = raw_column(second, "auth_token")
    settings.FIELD_ENCRYPTION_KEYS = [newest, oldest]  # the key of `second` was lost
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("encryption_keys", "rotate", stdout=io.StringIO())
    assert raw_column(second, "auth_token") == second_before
    assert decrypt(raw_column(first, "auth_token")) == "first-token"


def test_reading_a_secret_whose_key_was_removed_says_so(db, settings):
    account = TwilioAccountFactory(auth_token=PLAINTEXT)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError, match="was a key removed"):
        ProviderAccount.objects.unscoped().get(pk=account.pk)


def test_generate_prints_a_usable_key():
    out = io.StringIO()
    call_command("encryption_keys", "generate", stdout=out)
    Fernet(out.getvalue().strip().encode())


def test_a_malformed_key_is_a_configuration_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        get_fernet()


def test_encrypt_round_trip():
    assert decrypt(encrypt("x" * 500)) == "x" * 500
