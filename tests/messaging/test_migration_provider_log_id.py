"""messaging 0005 on a database holding 0004's data: Message.zoho_voice_log_id becomes provider_log_id with every
value kept, and its unique constraint and the partial index of rows awaiting a log id take their new names (and still
do their work); back again restores the old column and names."""

from __future__ import annotations

import pytest

from django.db import IntegrityError, connection, transaction

from tests.migrations import migrations  # noqa: F401  (the fixture)

BEFORE = ("messaging", "0004_crm_keys_data")
AFTER = ("messaging", "0005_message_provider_log_id")
OLD_NAMES = {"message_unique_zoho_voice_log_id", "message_zv_awaiting_log"}
NEW_NAMES = {"message_unique_provider_log_id", "message_awaiting_provider_log"}


def _message_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "messaging_message"))


def _columns() -> set[str]:
    with connection.cursor() as cursor:
        return {column.name for column in connection.introspection.get_table_description(cursor, "messaging_message")}


@pytest.mark.django_db(transaction=True)
def test_every_log_id_is_kept_under_the_new_name_and_the_indexes_are_renamed(migrations):  # noqa: F811
    old = migrations.to(BEFORE)
    organization = old.get_model("studios", "Organization")._default_manager.create(slug="acme", name="Acme")
    contact = old.get_model("messaging", "Contact")._default_manager.create(
        organization=organization, phone="+14155550001"
    )
    conversation = old.get_model("messaging", "Conversation")._default_manager.create(
        organization=organization, contact=contact
    )
    Message = old.get_model("messaging", "Message")._default_manager
    common = {"organization": organization, "conversation": conversation, "contact": contact}
    polled = Message.create(
        **common,
        direction="inbound",
        from_number="+14155550001",
        to_number="+14155550100",
        provider="zoho_voice",
        provider_message_id="41",
        zoho_voice_log_id="41",
        body="hi",
    )
    awaiting = Message.create(
        **common, direction="outbound", from_number="+14155550100", to_number="+14155550001", provider="zoho_voice"
    )
    twilio = Message.create(
        **common,
        direction="outbound",
        from_number="+14155550101",
        to_number="+14155550001",
        provider="twilio",
        provider_message_id="SM1",
    )
    assert OLD_NAMES <= _message_indexes()

    new = migrations.to(AFTER)
    messages = new.get_model("messaging", "Message")._default_manager
    assert {m.pk: (m.provider, m.provider_message_id, m.provider_log_id) for m in messages.all()} == {
        polled.pk: ("zoho_voice", "41", "41"),
        awaiting.pk: ("zoho_voice", None, None),
        twilio.pk: ("twilio", "SM1", None),
    }
    assert "zoho_voice_log_id" not in _columns()
    indexes = _message_indexes()
    assert NEW_NAMES <= indexes
    assert not OLD_NAMES & indexes
    with pytest.raises(IntegrityError), transaction.atomic():  # the renamed constraint still holds
        messages.filter(pk=awaiting.pk).update(provider_log_id="41")

    migrations.to(BEFORE)
    assert "zoho_voice_log_id" in _columns()
    assert "provider_log_id" not in _columns()
    indexes = _message_indexes()
    assert OLD_NAMES <= indexes
    assert not NEW_NAMES & indexes
    assert Message.get(pk=polled.pk).zoho_voice_log_id == "41"
