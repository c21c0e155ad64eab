"""An automation world: the Twilio world of the messaging tests plus the sandbox's demo Zoho CRM org, our
organization's Zoho CRM connection and webhook token, and staff whose CRM user ids own the sandbox's leads."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests

from django.core.cache import cache

from automation import tasks
from automation.services import intake as intake_service
from automation.services import replies as reply_service
from automation.services.settings import automation_webhook_token_rotate
from core.models import InboundEvent
from crm.providers.zoho.tokens import token_cache_clear
from sandbox import worlds
from studios.models import MemberCrmUser, ProviderAccount
from tests.messaging.support import TwilioWorld, inline_tasks, twilio_world  # noqa: F401

ANA = worlds.DEMO_USERS[1]["id"]  # staff of Downtown
BEN = worlds.DEMO_USERS[2]["id"]  # staff of Uptown


@dataclass
class AutomationWorld:
    twilio: TwilioWorld
    zoho: ProviderAccount
    webhook_url: str
    deferred: list

    def __getattr__(self, name):
        return getattr(self.twilio, name)

    def lead_create(self, **fields) -> dict:
        """A person adds a lead in Zoho; the workflow rule posts to our webhook (asynchronously, as Zoho)."""
        lead = {"First_Name": "Lena", "Last_Name": "Lead", "Mobile": "+14155559001", "Owner": {"id": ANA}, **fields}
        created = self.twilio.control("POST", "/_sandbox/zoho/leads", json=lead)
        return created

    def wait_for_events(self, count: int, source: str = "zoho.lead", timeout: float = 10.0) -> list[InboundEvent]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = list(InboundEvent.objects.filter(source=source).order_by("id"))
            if len(events) >= count and all(e.status != "received" for e in events):
                return events
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} {source} events, got {InboundEvent.objects.filter(source=source).count()}"
        )

    def tasks(self) -> list[dict]:
        return self.twilio.control("GET", "/_sandbox/zoho/Tasks", params={"limit": 500})


@pytest.fixture(autouse=True)
def _clean_cache():
    """Token budgets and caches are per refresh token, and every sandbox has the same demo one."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def automation_inline(monkeypatch, inline_tasks):  # noqa: F811
    """Intakes' and replies' tasks run at once after commit; the retries they publish (with a countdown) are held
    in `deferred`."""

    def run_intake(intake_id, countdown=None):
        if countdown is None:
            tasks.lead_intake_process_task(intake_id)
        else:
            inline_tasks.append(("intake", intake_id, countdown))

    def run_reply(reply_id, countdown=None):
        if countdown is None:
            tasks.reply_process_task(reply_id)
        else:
            inline_tasks.append(("reply", reply_id, countdown))

    monkeypatch.setattr(intake_service, "lead_intake_enqueue", run_intake)
    monkeypatch.setattr(reply_service, "reply_enqueue", run_reply)
    return inline_tasks


@pytest.fixture
def automation_world(twilio_world, automation_inline, settings) -> AutomationWorld:  # noqa: F811
    # Zoho's retry schedule (1, 2, 4, 8, 16 s) is tested in tests/crm/zoho; here it would only make tests wait.
    settings.ZOHO_RETRY_BASE_SECONDS = 0.01
    world = twilio_world
    zoho = ProviderAccount.unscoped_objects.create(
        organization=world.organization,
        name="acme-zoho",
        kind="zoho_crm",
        is_default=True,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
        accounts_url=world.sandbox_url,
        api_domain=world.sandbox_url,
    )
    # Tokens are cached per refresh token with the API domain they came with: a previous test's sandbox had
    # another port, and the demo refresh token is the same in every sandbox.
    token_cache_clear(account=zoho)
    crm_user_link(world.staff, zoho, ANA)
    url = automation_webhook_token_rotate(organization=world.organization)
    local_url = url.replace(world.product_url, world.product_url)  # PUBLIC_BASE_URL is the live server already
    world.control("POST", "/_sandbox/zoho/workflows", json={"url": local_url})
    return AutomationWorld(twilio=world, zoho=zoho, webhook_url=local_url, deferred=automation_inline)


def crm_user_link(membership, connection, crm_user_id: str) -> MemberCrmUser:
    """The member is `crm_user_id` in the CRM behind `connection` (the owner of the leads that user owns)."""
    return MemberCrmUser.unscoped_objects.create(
        organization=membership.organization, membership=membership, connection=connection, crm_user_id=crm_user_id
    )


def post_webhook(url: str, body: str, content_type: str = "application/json") -> requests.Response:
    return requests.post(url, data=body.encode(), headers={"Content-Type": content_type}, timeout=10)
