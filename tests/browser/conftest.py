"""Browser tests: Debian's Chromium driven by Playwright against the product on live_server, with the sandbox's
Twilio wired to it (signed webhooks and status callbacks reach our real views; tasks run inline).

Fixtures, for these tests and others that need a browser:
    browser_page              a fresh 400 px wide page (the Zoho widget's width); screenshot on teardown
    live_app                  the product + sandbox world (tests/messaging/support.py: TwilioWorld) and helpers
    signed_in_page(member)    browser_page with that member's session cookie, opened at /app/
    screenshot(name)          save the page under var/test-artifacts/screenshots/
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.test import Client

from tests.messaging.support import LEAD, TwilioWorld, inline_tasks, twilio_world  # noqa: F401

CHROMIUM = os.environ.get("LEADLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "screenshots"
WIDGET_VIEWPORT = {"width": 400, "height": 760}
# Generous for a loaded CI machine; what must be fast (a text within 3 s) says so with its own timeout.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One Chromium per test session (each test gets its own context: no cookie or storage leaks between tests)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium).")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)

    # Playwright's sync API keeps an asyncio loop in this thread; Django would take the tests' own ORM calls for
    # calls from async code and refuse them. They are plain synchronous test code, so allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def artifact_name(request: pytest.FixtureRequest, suffix: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    return SCREENSHOTS / f"{test}{'-' + suffix if suffix else ''}.png"


class RequestsInFlight:
    """Counts requests the live server is handling (it runs in this process), so a test ends only once they are
    done: the database flush after a transactional test would otherwise deadlock with a poll still querying."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def started(self, **kwargs) -> None:
        with self.lock:
            self.count += 1

    def finished(self, **kwargs) -> None:
        with self.lock:
            self.count -= 1

    def wait_until_idle(self, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.count > 0 and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def browser_page(browser, request: pytest.FixtureRequest) -> Iterator:
    """A new page 400 px wide. Its last state is saved as `<test>-final.png` whatever the outcome."""
    in_flight = RequestsInFlight()
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    context = browser.new_context(viewport=WIDGET_VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    try:
        page.screenshot(path=artifact_name(request, "final"), full_page=True)
    finally:
        page.goto("about:blank")  # stops the page's polling before the browser goes
        context.close()
        in_flight.wait_until_idle()
        request_started.disconnect(in_flight.started)
        request_finished.disconnect(in_flight.finished)


@pytest.fixture
def screenshot(browser_page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    def save(name: str) -> Path:
        path = artifact_name(request, name)
        browser_page.screenshot(path=path, full_page=True)
        return path

    return save


@dataclass
class LiveApp:
    """The product on live_server and the sandbox's Twilio world around it."""

    world: TwilioWorld

    @property
    def url(self) -> str:
        return self.world.product_url

    def lead_texts(self, body: str, *, to: str | None = None, sender: str = LEAD) -> dict:
        """The sandbox phone `sender` texts one of our numbers (Downtown's by default); the webhook is delivered."""
        return self.world.phone_texts(to=to or self.world.downtown_number.number, body=body, sender=sender)

    def sandbox_config(self, **values) -> dict:
        return self.world.control("PATCH", "/_sandbox/config", json=values)

    def deliver_sends_automatically(self, delay_seconds: float = 0.3) -> None:
        """The sandbox moves each new send queued -> sending -> sent -> delivered, calling our status webhook."""
        self.sandbox_config(auto_progress_messages=True, auto_progress_delay_seconds=delay_seconds)


@pytest.fixture
def live_app(twilio_world) -> LiveApp:  # noqa: F811 (the fixture imported above)
    return LiveApp(world=twilio_world)


@pytest.fixture
def signed_in_page(browser_page, live_app) -> Callable:
    """`signed_in_page(member, path="/app/")`: the page carrying a session of the member's user, opened at path.
    The session is made server-side (no sign-in form), so any member works, staff included."""

    def sign_in(member, path: str = "/app/"):
        client = Client()
        client.force_login(member.user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        browser_page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_app.url}])
        browser_page.goto(live_app.url + path)
        return browser_page

    return sign_in
