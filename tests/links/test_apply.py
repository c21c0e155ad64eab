"""The apply loop: from a mirror batch to the write on the other CRM and back (its echo writes nothing), deletions
confirmed with the CRM, the lease, the time budget, and a paused link."""

import pytest

from django.core.cache import cache
from django.utils import timezone

from links.apply import lease_take, link_apply
from links.models import LinkChange, LinkObject, LinkWrite, RecordPair, SyncLink
from links.tasks import _queued_key
from tests.links.conftest import mirror_delete, mirror_write
from tests.links.test_writer import Crms


@pytest.fixture
def crms(db, empty_sandbox):
    return Crms(empty_sandbox)


def test_a_new_record_is_created_on_the_other_crm_and_its_echo_writes_nothing(crms):
    crms.mirror_a("00Q000000000001", last_name="Ng", email="ng@x.test")
    report = link_apply(crms.link)
    assert (report.planned, report.sent, report.left) == (1, 1, 0)
    assert (report.counts.writes, report.counts.conflicts) == (1, 0)
    pair = RecordPair.objects.unscoped().get(link_object=crms.leads, id_a="00Q000000000001")
    record = crms.hs.read_record("lead", pair.id_b)
    assert (record["lastname"], record["email"], record["leadline_id"]) == ("Ng", "ng@x.test", str(pair.leadline_id))
    crms.link.refresh_from_db()
    assert crms.link.first_sync_done_at is not None

    written = crms.hs.records_written()
    mirror_write(crms.hs.connection(), "lead", [crms.hs.provider().record(object="lead", record_id=pair.id_b)])
    report = link_apply(crms.link)
    assert (report.planned, report.sent) == (1, 0)
    assert crms.hs.records_written() == written
    assert LinkWrite.objects.unscoped().filter(link=crms.link).count() == 1


def test_a_deletion_missing_from_a_read_is_confirmed_with_the_crm(crms):
    gone = crms.hs.create_record("lead", {"lastname": "Gone", "email": "gone@x.test"})
    alive = crms.hs.create_record("lead", {"lastname": "Here", "email": "here@x.test"})
    for n, record_id in enumerate((gone, alive)):
        crms.pair(id_a=f"00Q00000000000{n}", id_b=record_id)
    LinkObject.objects.unscoped().filter(pk=crms.leads.pk).update(deletes=LinkObject.Deletes.IGNORE)
    mirror_write(crms.hs.connection(), "lead", crms.hs.provider().records(object="lead", record_ids=[gone, alive]))
    LinkChange.objects.unscoped().filter(link=crms.link).update(processed_at=timezone.now())
    crms.hs.delete_record("lead", gone)
    mirror_delete(crms.hs.connection(), "lead", [gone, alive], confirmed=False)  # both missing from one read
    link_apply(crms.link)
    states = dict(RecordPair.objects.unscoped().filter(link_object=crms.leads).values_list("id_b", "state"))
    assert states == {gone: RecordPair.State.DELETED_B, alive: RecordPair.State.LINKED}
    deletes = LinkChange.objects.unscoped().filter(link=crms.link, operation="delete").order_by("external_id")
    assert {c.external_id: c.confirmed for c in deletes} == {gone: True, alive: False}
    assert all(c.processed_at for c in deletes)


def test_another_worker_holding_the_lease_leaves_the_link_alone(world):
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    assert lease_take(world.link)
    report = link_apply(world.link)
    assert report.busy
    assert len(world.changes(processed_at__isnull=True)) == 1


def test_a_paused_link_plans_and_sends_nothing(world):
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(state=SyncLink.State.PAUSED)
    report = link_apply(world.link)
    assert (report.planned, report.sent) == (0, 0)
    assert len(world.changes(processed_at__isnull=True)) == 1


def test_out_of_time_with_work_left_queues_itself_again(world, settings):
    settings.LINKS_PLAN_CHUNK = 1
    LinkObject.objects.unscoped().filter(pk=world.leads.pk).update(create_a=False, create_b=False)
    world.mirror("a", [world.lead_a("1", Last_Name="Ng"), world.lead_a("2", Last_Name="Li")])
    cache.delete(_queued_key(world.link.pk))
    report = link_apply(world.link, budget_seconds=0)
    assert (report.planned, report.left) == (1, 1)
    assert cache.get(_queued_key(world.link.pk))
    report = link_apply(world.link)
    assert (report.planned, report.left) == (1, 0)


def test_the_every_minute_sweep_queues_running_links_with_work_due(world, draft_world):
    from links.tasks import links_due_task

    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    cache.delete(_queued_key(world.link.pk))
    assert links_due_task() == "queued 1"
    assert cache.get(_queued_key(world.link.pk))
    assert links_due_task() == "queued 0"  # already queued: not twice
