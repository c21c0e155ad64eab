"""Randomized: people create, edit, back-date and delete leads between runs, and runs are killed, paused, or find
their token expired or their paging links dead. After every run that finished ok the mirror equals the CRM; every
new record is announced at most once, and none of the first load's. (A run resumed from a dead one's page catches up
with the next run: see below.)"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun, SyncState
from tests.sync.test_tracked import announced, assert_mirror_equals, connection, crm, state_of
from tests.sync.tracked_double import START, Killed

pytestmark = pytest.mark.django_db
__all__ = ["announced", "connection", "crm"]  # fixtures

STEPS = 14


def people_work(crm, rng: random.Random) -> None:
    live = sorted(crm.live())
    for record_id in rng.sample(live, k=min(len(live), rng.randint(0, 12))):
        if rng.random() < 0.15:
            crm.write(
                record_id, name=f"Imported {rng.randint(0, 999)}", modified=START - timedelta(days=rng.randint(1, 9))
            )
        else:
            crm.write(record_id, name=f"Edited {rng.randint(0, 999)}")
    for record_id in rng.sample(live, k=min(len(live), rng.randint(0, 6))):
        crm.delete(record_id)
    crm.create(rng.randint(0, 25), prefix=rng.choice("NPQ"))


def fault(crm, rng: random.Random) -> str:
    kind = rng.choice(["none", "none", "crash", "quota", "expire", "dead_links"])
    if kind == "crash":
        crm.crash_after = crm.pages_served + rng.randint(0, 3)
    elif kind == "quota":
        crm.quota_after = crm.pages_served + rng.randint(0, 3)
    elif kind == "expire":
        crm.floor = crm.version
    elif kind == "dead_links":
        crm.dead_links = rng.random() < 0.5 or {token for token in crm.asked if token.startswith("page:")}
    return kind


@pytest.mark.parametrize("seed", [3, 17, 2026])
def test_the_mirror_equals_the_crm_whatever_happens_between_runs(
    organization, crm, announced, settings, seed, django_capture_on_commit_callbacks
):
    rng = random.Random(seed)
    settings.SYNC_TRACKED_PAGE_SIZE = rng.choice([7, 25, 60])
    settings.SYNC_BATCH_SIZE = rng.choice([5, 30])
    crm.create(rng.randint(40, 120))
    first_load = set(crm.live())
    for _ in range(STEPS):
        people_work(crm, rng)
        kind = fault(crm, rng)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                run = sync_run(organization=organization, object="lead", provider=crm)
        except Killed:
            state = SyncState.objects.for_organization(organization).get(object="lead")
            SyncState.objects.for_organization(organization).update(lease_expires_at=state.locked_by.started_at)
            continue
        finally:
            crm.crash_after = crm.quota_after = None
            crm.dead_links = False
        if run.status == SyncRun.Status.OK and run.resumed:
            # A resumed read goes on from the dead run's page, with its snapshot: the changes made meanwhile to the
            # pages before come with the next delta (the token is the snapshot's).
            with django_capture_on_commit_callbacks(execute=True):
                run = sync_run(organization=organization, object="lead", provider=crm)
        if run.status == SyncRun.Status.OK:
            assert_mirror_equals(organization, crm)
            assert state_of(organization).checkpoint_token == ""
        else:
            assert kind in ("quota", "dead_links"), (kind, run.status, run.error)

    final = sync_run(organization=organization, object="lead", provider=crm)
    assert final.status == SyncRun.Status.OK, final.error
    assert_mirror_equals(organization, crm)
    keys = CrmRecord.objects.for_organization(organization).values_list("external_id", flat=True)
    assert len(keys) == len(set(keys))
    said = [record.id for call in announced for record in call["records"]]
    assert len(said) == len(set(said))  # once each
    assert not set(said) & first_load
