"""A Twilio world for messaging tests: the sandbox's demo Twilio account and numbers, our organization wired to
them, the product served by live_server so the sandbox's signed webhooks reach our real views over HTTP, and
tasks run inline (after commit, in the process that enqueued them) so a test can follow a text end to end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from core import webhooks as core_webhooks
from messaging.services import sending
from sandbox import worlds
from studios.models import PhoneNumber, ProviderAccount, Studio
from tests.factories import MembershipFactory, OrganizationFactory, StudioFactory

LEAD = "+14155559001"


@dataclass
class TwilioWorld:
    sandbox_url: str
    product_url: str
    organization: object
    downtown: Studio
    uptown: Studio
    account: ProviderAccount
    downtown_number: PhoneNumber
    uptown_number: PhoneNumber
    shared_number: PhoneNumber
    manager: object
    staff: object
    deferred: list = field(default_factory=list)  # (message_id, countdown) of retries the inline runner held back

    def control(self, method: str, path: str, **kwargs):
        response = requests.request(method, self.sandbox_url + path, timeout=20, **kwargs)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def phone_texts(self, *, to: str, body: str, sender: str = LEAD):
        return self.control("POST", "/_sandbox/twilio/phones/send", json={"from": sender, "to": to, "body": body})

    def sandbox_messages(self, **filters) -> list[dict]:
        return self.control("GET", "/_sandbox/twilio/messages", params=filters)

    def fault(self, **rule):
        return self.control("POST", "/_sandbox/faults", json=rule)

    def clear_faults(self):
        return self.control("DELETE", "/_sandbox/faults")


@pytest.fixture
def inline_tasks(monkeypatch):
    """Run enqueued work at once (webhook events, sends); retries with a countdown are held in a list."""
    deferred: list = []

    def run_event(event_id, countdown=None):
        if countdown is None:
            core_webhooks.inbound_event_process(event_id=event_id)

    def run_send(message_id, countdown=None):
        if countdown is not None:
            deferred.append((message_id, countdown))
            return
        sending.message_deliver(message_id=message_id)

    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", run_event)
    monkeypatch.setattr(sending, "message_send_enqueue", run_send)
    return deferred


@pytest.fixture
def twilio_world(sandbox, live_server, settings, inline_tasks, transactional_db) -> Iterator[TwilioWorld]:
    settings.PUBLIC_BASE_URL = live_server.url
    organization = OrganizationFactory(slug="acme", name="Acme Fitness")
    downtown = StudioFactory(organization=organization, slug="downtown", name="Downtown")
    uptown = StudioFactory(organization=organization, slug="uptown", name="Uptown")
    account = ProviderAccount.unscoped_objects.create(
        organization=organization,
        name="acme-twilio",
        kind="twilio",
        is_default=True,
        account_sid=worlds.DEMO_TWILIO_ACCOUNT_SID,
        auth_token=worlds.DEMO_TWILIO_AUTH_TOKEN,
        api_base_url=sandbox.url,
    )
    shared, down, up = (
        PhoneNumber.unscoped_objects.create(
            organization=organization, number=n, provider="twilio", account=account, studio=s
        )
        for n, s in zip(worlds.DEMO_TWILIO_NUMBERS, (None, downtown, uptown), strict=True)
    )
    world = TwilioWorld(
        sandbox_url=sandbox.url,
        product_url=live_server.url,
        organization=organization,
        downtown=downtown,
        uptown=uptown,
        account=account,
        downtown_number=down,
        uptown_number=up,
        shared_number=shared,
        manager=MembershipFactory(organization=organization, manager=True, user__email="manager@acme.test"),
        staff=MembershipFactory(organization=organization, studios=[downtown], user__email="staff@acme.test"),
        deferred=inline_tasks,
    )
    for number in worlds.DEMO_TWILIO_NUMBERS:
        world.control(
            "POST",
            "/_sandbox/twilio/numbers",
            json={"number": number, "sms_url": live_server.url + "/webhooks/twilio/sms/"},
        )
    yield world
    # A webhook the sandbox is still delivering to the live server (a CRM workflow, a status callback) writes while
    # the test database is flushed, and the two deadlock: let it land first.
    sandbox.state.sender.drain()
