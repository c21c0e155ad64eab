import pytest

from links.models import LinkChange, LinkWrite, MatchReview, RecordPair, SyncLink
from links.preview import link_preview
from links.services import link_start
from sync.models import SyncRun
from tests.links.firstsync_helpers import World

pytestmark = pytest.mark.django_db


def overlapping_world() -> World:
    """Leads and contacts overlapping: two by e-mail (one with a different name), one by phone, an e-mail two
    contacts share (ambiguous), one lead only in A, two contacts only in B."""
    world = World()
    world.mirror(
        "a",
        {"id": "L1", "name": "Ng", "email": "ng@acme.test", "fields": {"lead_status": "Contacted"}},
        {"id": "L2", "name": "Ruiz", "email": "ruiz@acme.test"},
        {"id": "L3", "name": "Okafor", "phone": "+14155550111"},
        {"id": "L4", "name": "Smith", "email": "smith@acme.test"},
        {"id": "L5", "name": "Lonely", "email": "lonely@acme.test"},
    )
    world.mirror(
        "b",
        {"id": "C1", "name": "Ng", "email": "NG@acme.test", "fields": {"lead_status": "NEW"}},
        {"id": "C2", "name": "Ruiz-Diaz", "email": "ruiz@acme.test"},
        {"id": "C3", "name": "Okafor", "phone": "+14155550111"},
        {"id": "C4", "name": "Smith", "email": "smith@acme.test"},
        {"id": "C5", "name": "Smith J", "email": "smith@acme.test"},
        {"id": "C6", "name": "Only B", "email": "b1@acme.test"},
        {"id": "C7", "name": "Only B too"},
    )
    return world


def test_the_preview_counts_matched_by_rule_creates_and_ambiguous_per_object():
    world = overlapping_world()

    preview = link_preview(world.link)

    [counts] = preview["objects"]
    assert counts["object"] == "lead ⇄ contact"
    assert counts["matched"] == 3
    assert counts["matched_by"] == {"email": 2, "phone": 1}
    assert counts["create_b"] == 1
    assert counts["examples"]["create_b"] == [{"a": "L5"}]
    assert counts["create_a"] == 2
    assert {e["b"] for e in counts["examples"]["create_a"]} == {"C6", "C7"}
    # L4 matches C4 and C5; C4 and C5 each claim L4.
    assert counts["ambiguous"] == 3
    assert counts["examples"]["ambiguous"][0] == {
        "side": "a",
        "id": "L4",
        "candidates": ["C4", "C5"],
        "claimed_by": [],
        "by": "email",
        "value": "smith@acme.test",
    }


def test_the_preview_counts_updates_and_conflicts_of_matched_pairs():
    world = overlapping_world()

    [counts] = link_preview(world.link)["objects"]

    # Ng: A's status Contacted -> CONNECTED against B's NEW (a conflict, the later row wins: B's); Ruiz: names differ.
    assert counts["conflicts"] == 2
    assert counts["update_a"] + counts["update_b"] == 2
    assert {e["field"] for e in counts["examples"]["conflicts"]} == {
        "Lead_Status ⇄ hs_lead_status",
        "Last_Name ⇄ lastname",
    }


def test_the_preview_writes_nothing_but_the_preview_on_the_link():
    world = overlapping_world()

    link_preview(world.link)

    stored = SyncLink.objects.for_organization(world.organization).get(pk=world.link.pk)
    assert stored.state == SyncLink.State.DRAFT
    assert stored.preview_at is not None
    assert stored.preview["objects"][0]["matched"] == 3
    for model in (RecordPair, MatchReview, LinkChange, LinkWrite):
        assert not model.objects.for_organization(world.organization).exists()


def test_examples_are_capped_at_five():
    world = World()
    world.mirror("a", *[{"id": f"L{i}", "email": f"p{i}@acme.test"} for i in range(12)])

    [counts] = link_preview(world.link)["objects"]

    assert counts["create_b"] == 12
    assert len(counts["examples"]["create_b"]) == 5


def test_no_creates_are_counted_on_a_side_that_does_not_take_them():
    world = World()
    world.lead_contact.create_b = False
    world.lead_contact.save()
    world.mirror("a", {"id": "L1", "email": "p@acme.test"})

    [counts] = link_preview(world.link)["objects"]

    assert counts["create_b"] == 0


def test_the_preview_says_what_the_start_then_does(django_capture_on_commit_callbacks):
    world = overlapping_world()
    [counts] = link_preview(world.link)["objects"]

    with django_capture_on_commit_callbacks():
        link_start(world.link)

    organization = world.organization
    assert RecordPair.objects.for_organization(organization).count() == counts["matched"]
    assert MatchReview.objects.for_organization(organization).count() == counts["ambiguous"]


def test_the_preview_carries_the_problems_that_would_stop_a_start():
    world = overlapping_world()
    world.fields[0].field_b = "lastnme"
    world.fields[0].save()

    preview = link_preview(world.link)

    assert preview["problems"] == ["acme-sync: lead ⇄ contact: side B (HubSpot) has no field 'lastnme'"]
    assert preview["objects"][0]["matched"] == 3


def test_a_side_whose_mirror_never_finished_a_load_is_named_among_the_problems():
    world = overlapping_world()
    SyncRun.objects.unscoped().filter(connection=world.hubspot).update(status=SyncRun.Status.FAILED)

    problems = link_preview(world.link)["problems"]

    assert len(problems) == 1
    assert "side B" in problems[0]
    assert "has not mirrored" in problems[0]
