"""The records-changed receiver: changes of linked objects recorded in the mirror batch's own transaction."""

import pytest

from django.db import transaction

from links.models import LinkChange, SyncLink


def test_a_batch_of_a_linked_object_records_one_change_per_record(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        world.mirror("a", [world.lead_a("1", Last_Name="Ng"), world.lead_a("2", Last_Name="Li")])
    changes = world.changes()
    assert [(c.side, c.external_id, c.operation) for c in changes] == [("a", "1", "upsert"), ("a", "2", "upsert")]
    assert all(c.modified_time and c.seen_at and c.processed_at is None for c in changes)
    assert len(callbacks) == 1  # the apply is queued once the batch commits


def test_deletions_are_recorded_with_their_evidence(world):
    world.mirror("b", [world.lead_b("7", lastname="Ng"), world.lead_b("8", lastname="Li")])
    world.delete("b", ["7"], confirmed=True)
    world.delete("b", ["8"], confirmed=False)
    deletes = world.changes(operation=LinkChange.Operation.DELETE)
    assert [(c.side, c.external_id, c.confirmed) for c in deletes] == [("b", "7", True), ("b", "8", False)]


def test_a_rolled_back_batch_records_nothing(world):
    def batch_failing_after_its_rows():
        with transaction.atomic():
            world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
            raise RuntimeError("the batch fails after its rows were written")

    with pytest.raises(RuntimeError):
        batch_failing_after_its_rows()
    assert world.changes() == []


def test_a_draft_link_records_nothing(draft_world):
    draft_world.mirror("a", [draft_world.lead_a("1", Last_Name="Ng")])
    assert draft_world.changes() == []


def test_a_paused_link_still_records_changes(world):
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(state=SyncLink.State.PAUSED)
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    assert len(world.changes()) == 1


def test_objects_the_link_does_not_hold_record_nothing(world):
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")], object="deal")
    assert world.changes() == []


def test_an_organization_without_links_pays_one_query_per_batch(world, django_assert_num_queries):
    from links.receivers import link_changes_record
    from tests.factories import OrganizationFactory

    other = OrganizationFactory(slug="no-links")
    with django_assert_num_queries(1):
        link_changes_record(
            organization_id=other.pk,
            connection_id=world.connection_a.pk,
            object="lead",
            records=[world.lead_a("1", Last_Name="Ng")],
        )
