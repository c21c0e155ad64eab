"""Service protection kept by every worker together: a 429's Retry-After waited exactly and shared (no request
from any worker before it ends), longer blocks refused with the seconds left, and the environment's request slots
keeping the requests in flight at or under DYNAMICS_CONCURRENCY (never above 52), with threads as workers over real
HTTPS."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest

from crm.errors import CrmRateLimited
from crm.providers.dynamics import errors, limits
from crm.providers.dynamics.client import DataverseClient
from crm.providers.dynamics.conf import concurrency
from crm.providers.dynamics.errors import DataverseRateLimited
from crm.records import Priority
from tests.crm.dynamics.client_support import (  # noqa: F401 (fixtures)
    FakeDataverse,
    SleepRecorder,
    clean_state_fixture,
    dv_account_fixture,
    dv_cert_dir_fixture,
    fake_fixture,
    make_client_fixture,
)

pytestmark = pytest.mark.django_db

ENV = "https://org.crm.dynamics.com"
USER = "app-1"
WHO = {"BusinessUnitId": "b-1", "UserId": "u-1", "OrganizationId": "o-1"}
REQUESTS_MESSAGE = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."


def too_many(retry_after: int, code: str = "0x80072322", message: str = REQUESTS_MESSAGE) -> FakeDataverse:
    return FakeDataverse.error(429, code, message, {"Retry-After": str(retry_after)})


# --- the block ----------------------------------------------------------------------------------------------------
def test_the_latest_end_of_a_block_wins(clean_state):
    now = time.time()
    first = limits.block_record(environment=ENV, user=USER, retry_after=10, now=now)
    assert limits.block_record(environment=ENV, user=USER, retry_after=2, now=now) == first
    assert limits.blocked_until(environment=ENV, user=USER) == first
    assert limits.blocked_until(environment=ENV, user="another-app") == 0
    assert limits.blocked_until(environment="https://other.crm.dynamics.com", user=USER) == 0


def test_a_block_is_waited_exactly_and_longer_ones_refused(clean_state):
    sleeps = SleepRecorder()
    pacer = limits.Pacer(sleeps)
    limits.block_record(environment=ENV, user=USER, retry_after=3, now=pacer.now())
    waited = limits.block_wait(environment=ENV, user=USER, pacer=pacer, max_wait=5)
    assert 2.9 < waited <= 3.06
    assert sleeps.waits == [waited]
    limits.block_record(environment=ENV, user=USER, retry_after=30, now=pacer.now())
    with pytest.raises(DataverseRateLimited) as raised:
        limits.block_wait(environment=ENV, user=USER, pacer=pacer, max_wait=5)
    assert 29 < raised.value.retry_after <= 30.1
    assert isinstance(errors.translate(raised.value), CrmRateLimited)


def test_people_wait_less_than_background_work(settings):
    settings.DYNAMICS_INTERACTIVE_WAIT_SECONDS = 4
    settings.DYNAMICS_RETRY_MAX_SECONDS = 90
    assert limits.max_wait_for(Priority.INTERACTIVE) == 4
    assert limits.max_wait_for(Priority.BACKGROUND) == 90


# --- the slots ----------------------------------------------------------------------------------------------------
def test_concurrency_never_passes_dataverses_52(settings):
    settings.DYNAMICS_CONCURRENCY = 200
    assert concurrency() == 52
    settings.DYNAMICS_CONCURRENCY = 0
    assert concurrency() == 1


def test_a_call_waits_for_a_free_slot_then_gives_up(clean_state, settings):
    settings.DYNAMICS_CONCURRENCY = 2
    pacer = limits.Pacer(SleepRecorder())
    with limits.request_slot(environment=ENV, pacer=pacer), limits.request_slot(environment=ENV, pacer=pacer):
        assert limits.slots_in_use(environment=ENV) == 2
        with (
            pytest.raises(DataverseRateLimited, match="request slots"),
            limits.request_slot(environment=ENV, pacer=pacer, wait_seconds=1),
        ):
            pass
        with limits.request_slot(environment="https://other.crm.dynamics.com", pacer=pacer):
            pass  # another environment has its own slots
    assert limits.slots_in_use(environment=ENV) == 0


# --- over HTTP ----------------------------------------------------------------------------------------------------
def test_a_429_is_waited_exactly_as_long_as_it_says(fake, make_client):
    fake.answer(too_many(7), FakeDataverse.json(200, WHO))
    client = make_client()
    assert client.whoami() == WHO
    assert len(client.sleep.waits) == 1
    assert 6.95 <= client.sleep.waits[0] <= 7.1


def test_a_block_longer_than_a_call_may_wait_is_shared_by_every_worker(fake, make_client, dv_account, settings):
    settings.DYNAMICS_RETRY_MAX_SECONDS = 60
    fake.answer(too_many(300, "0x80072321", "Combined execution time of incoming requests exceeded limit"))
    with pytest.raises(DataverseRateLimited) as raised:
        make_client().whoami()
    assert raised.value.limit == "execution"
    assert 299 < raised.value.retry_after <= 300.1
    other_worker = DataverseClient(dv_account, sleep=SleepRecorder())
    with pytest.raises(DataverseRateLimited):
        other_worker.whoami()
    assert len(fake.api_seen()) == 1  # the other worker sent nothing


def test_an_interactive_call_does_not_sit_out_a_long_block(fake, make_client, settings):
    settings.DYNAMICS_INTERACTIVE_WAIT_SECONDS = 5
    fake.answer(too_many(10), FakeDataverse.json(200, WHO))
    with pytest.raises(DataverseRateLimited):
        make_client(priority=Priority.INTERACTIVE).whoami()
    background = make_client()
    assert background.whoami() == WHO
    assert 9 < background.sleep.waits[0] <= 10.1


def test_429s_give_up_after_the_retries(fake, make_client, settings):
    settings.DYNAMICS_RETRY_ATTEMPTS = 2
    fake.default = lambda request: too_many(1, "0x80072326", "Number of concurrent requests exceeded the limit of 52.")
    with pytest.raises(DataverseRateLimited) as raised:
        make_client().whoami()
    assert raised.value.limit == "concurrency"
    assert len(fake.api_seen()) == 3


def test_no_worker_sends_before_a_retry_after_ends(fake, dv_account):
    """Worker A's call is refused for 1 s; A and three other workers (real sleeps) all call during it: the
    environment hears nothing from any of them until the second has passed."""
    fake.answer(too_many(1))
    fake.default = lambda request: FakeDataverse.json(200, WHO)
    errors_seen: list[BaseException] = []

    def worker() -> None:
        try:
            DataverseClient(dv_account).whoami()
        except BaseException as exc:
            errors_seen.append(exc)

    first = threading.Thread(target=worker)
    first.start()
    deadline = time.monotonic() + 10
    while (not fake.api_seen() or not fake.api_seen()[0].answered) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)  # A has read its 429 and recorded the block
    others = [threading.Thread(target=worker) for _ in range(3)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(timeout=20)
    assert errors_seen == []
    refused, *later = fake.api_seen()
    assert len(later) == 4
    assert min(seen.arrived for seen in later) >= refused.answered + 1.0


def test_parallel_workers_never_pass_the_environments_concurrency(fake, dv_account, settings):
    settings.DYNAMICS_CONCURRENCY = 3
    fake.delay = 0.05
    fake.default = lambda request: FakeDataverse.json(200, WHO)
    failures: list[BaseException] = []

    def worker() -> None:
        client = DataverseClient(dv_account)
        try:
            for _ in range(4):
                client.whoami()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(fake.api_seen()) == 32
    assert 2 <= fake.in_flight_max <= 3


def test_a_long_block_is_shown_on_the_connection_until_a_call_succeeds(fake, make_client, dv_account):
    from crm.providers.dynamics.models import DynamicsConnection

    fake.answer(too_many(600), FakeDataverse.json(200, WHO))
    client = make_client()
    with pytest.raises(DataverseRateLimited):
        client.whoami()
    shown = DynamicsConnection.unscoped_objects.get(account=dv_account).limit_blocked_until
    assert shown is not None
    assert 590 < shown.timestamp() - time.time() <= 601
    limits.block_clear(environment=client.environment, user=client.user)  # the block has run out
    assert client.whoami() == WHO
    assert DynamicsConnection.unscoped_objects.get(account=dv_account).limit_blocked_until is None


def test_background_work_leaves_slots_to_people(clean_state, settings):
    settings.DYNAMICS_CONCURRENCY = 16
    pacer = limits.Pacer(SleepRecorder())
    with ExitStack() as held:
        for _ in range(14):
            held.enter_context(limits.request_slot(environment=ENV, pacer=pacer))
        with pytest.raises(DataverseRateLimited), limits.request_slot(environment=ENV, pacer=pacer, wait_seconds=1):
            pass
        with (
            limits.request_slot(environment=ENV, pacer=pacer, priority=Priority.INTERACTIVE),
            limits.request_slot(environment=ENV, pacer=pacer, priority=Priority.INTERACTIVE),
        ):
            assert limits.slots_in_use(environment=ENV) == 16
    assert limits.people_reserve(3) == 0


PROCESS_WORKER = """
import json, sys, time
import django
django.setup()
from crm.providers.dynamics import limits
environment, user, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.01)
pacer = limits.Pacer()
for _ in range(3):
    limits.block_wait(environment=environment, user=user, pacer=pacer, max_wait=30)
    with limits.request_slot(environment=environment, pacer=pacer):
        sent = time.time()
        time.sleep(0.2)
        print(json.dumps([sent, time.time()]))
"""


@pytest.mark.slow
def test_the_block_and_the_slots_hold_across_processes(clean_state, settings):
    """Worker processes (Django booted in each) share the environment's block and slots through the cache: none
    sends before the block ends, and no more than DYNAMICS_CONCURRENCY are in flight at once."""
    import json
    import os
    import subprocess
    import sys

    from tests.processes import PROJECT_DIR

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "DYNAMICS_CONCURRENCY": "2",
    }
    start = time.time() + 6  # most are up by then; a late one still meets the block or the slots
    until = limits.block_record(environment=ENV, user=USER, retry_after=start + 1.5 - time.time())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_WORKER, ENV, USER, str(start)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-800:] for _, err in outputs]
    spans = [json.loads(line) for out, _ in outputs for line in out.strip().splitlines()]
    assert len(spans) == 12
    assert min(sent for sent, _ in spans) >= until
    moments = sorted([(sent, 1) for sent, _ in spans] + [(done, -1) for _, done in spans], key=lambda m: (m[0], m[1]))
    in_flight = peak = 0
    for _, step in moments:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= 2
