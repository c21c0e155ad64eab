"""Messaging tells other apps about inbound texts through its hooks (messaging/hooks.py) and imports none of them:
lead automation registers its receivers when Django starts. The end-to-end behaviour (a YES starts the follow-up,
a HELP answer that cannot be sent is logged for managers) is tested in tests/automation/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import messaging
from automation import receivers
from messaging import hooks
from messaging.services.receiving import message_receive
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db


def test_messaging_imports_nothing_of_automation():
    root = Path(messaging.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.relative_to(root)}:{node.lineno}" for name in names if name.split(".")[0] == "automation"]
    assert found == []


def test_automation_registers_its_receivers_at_start_up():
    assert receivers.inbound_message_received in hooks.INBOUND_MESSAGE_RECEIVERS
    assert receivers.keyword_reply_failed in hooks.KEYWORD_REPLY_FAILED_RECEIVERS


def test_registering_a_receiver_twice_keeps_one(monkeypatch):
    monkeypatch.setattr(hooks, "INBOUND_MESSAGE_RECEIVERS", [])
    register = hooks._register(hooks.INBOUND_MESSAGE_RECEIVERS)

    def receiver(**kwargs):
        pass

    assert register(receiver) is receiver
    register(receiver)
    assert hooks.INBOUND_MESSAGE_RECEIVERS == [receiver]


@pytest.fixture
def heard(monkeypatch):
    """Every call of the inbound hook, after the registered receivers (automation's) have run."""
    calls: list[tuple[int, str | None]] = []
    listening = [*hooks.INBOUND_MESSAGE_RECEIVERS, lambda *, message, keyword: calls.append((message.pk, keyword))]
    monkeypatch.setattr(hooks, "INBOUND_MESSAGE_RECEIVERS", listening)
    return calls


def test_every_new_inbound_text_raises_the_hook_once_with_the_keyword_handled(heard):
    number = PhoneNumberFactory()
    text, created = message_receive(
        phone_number=number,
        from_number="+14155552999",
        body="Hello",
        provider="twilio",
        provider_message_id="SM1",
    )
    assert created
    stop, _ = message_receive(
        phone_number=number, from_number="+14155552999", body="stop", provider="twilio", provider_message_id="SM2"
    )
    # A re-delivered text is not new: nothing is raised for it.
    again, created = message_receive(
        phone_number=number, from_number="+14155552999", body="stop", provider="twilio", provider_message_id="SM2"
    )
    assert not created
    assert again.pk == stop.pk
    assert heard == [(text.pk, None), (stop.pk, "STOP")]


def test_a_receiver_that_fails_fails_the_caller_after_the_text_is_saved(monkeypatch):
    def broken(*, message, keyword):
        raise RuntimeError("receiver failed")

    monkeypatch.setattr(hooks, "INBOUND_MESSAGE_RECEIVERS", [broken])
    number = PhoneNumberFactory()
    with pytest.raises(RuntimeError):
        message_receive(
            phone_number=number, from_number="+14155552998", body="Hi", provider="twilio", provider_message_id="SM3"
        )
    # The text was saved first (a retried task finds it and changes nothing), as when automation was called directly.
    _, created = message_receive(
        phone_number=number, from_number="+14155552998", body="Hi", provider="twilio", provider_message_id="SM3"
    )
    assert not created
