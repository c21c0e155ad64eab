from datetime import timedelta

import pytest

from django.utils import timezone

from core.exceptions import ApplicationError
from links.models import LinkChange, LinkWrite, MatchReview, RecordPair, SyncLink
from links.services import LinkConfigError, _catch_up, link_pause, link_resume, link_start, review_resolve
from studios.models import ProviderAccount
from sync.models import SyncRun
from tests.links.firstsync_helpers import World

pytestmark = pytest.mark.django_db(transaction=False)


def loaded_world() -> World:
    world = World()
    world.mirror(
        "a",
        {"id": "L1", "email": "ng@acme.test"},
        {"id": "L2", "email": "smith@acme.test"},
        {"id": "L3", "email": "lonely@acme.test"},
        {"id": "L4", "email": "gone@acme.test"},
    )
    world.mirror(
        "b",
        {"id": "C1", "email": "ng@acme.test"},
        {"id": "C4", "email": "smith@acme.test"},
        {"id": "C5", "email": "smith@acme.test"},
        {"id": "C6", "email": "b@acme.test"},
    )
    world.delete("a", "L4")
    return world


def start(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        link = link_start(world.link)
    return link, callbacks


def test_start_pairs_one_to_one_matches_reviews_ambiguous_ones_and_records_every_live_record(
    django_capture_on_commit_callbacks,
):
    world = loaded_world()

    link, callbacks = start(world, django_capture_on_commit_callbacks)

    assert link.state == SyncLink.State.RUNNING
    assert link.started_at is not None
    pairs = RecordPair.objects.for_organization(world.organization)
    assert [(p.id_a, p.id_b, p.matched_by) for p in pairs] == [("L1", "C1", "email")]
    reviews = MatchReview.objects.for_organization(world.organization).order_by("side", "external_id")
    assert [(r.side, r.external_id, r.candidates) for r in reviews] == [
        ("a", "L2", ["C4", "C5"]),
        ("b", "C4", ["L2"]),
        ("b", "C5", ["L2"]),
    ]
    changes = LinkChange.objects.for_organization(world.organization).order_by("id")
    assert [(c.side, c.external_id) for c in changes] == [
        ("a", "L1"),
        ("a", "L2"),
        ("a", "L3"),
        ("b", "C1"),
        ("b", "C4"),
        ("b", "C5"),
        ("b", "C6"),
    ]
    assert all(c.operation == "upsert" and c.seen_at and c.modified_time for c in changes)
    assert len(callbacks) == 1  # the engine is asked once the start commits
    assert not LinkWrite.objects.for_organization(world.organization).exists()  # the engine writes, not the start


def test_rows_the_mirror_wrote_around_the_start_are_caught_up_once_it_committed(django_capture_on_commit_callbacks):
    world = loaded_world()
    start(world, django_capture_on_commit_callbacks)
    changes = LinkChange.objects.for_organization(world.organization)
    assert changes.count() == 7  # rows already recorded at their version get no second change
    link = SyncLink.objects.for_organization(world.organization).get(pk=world.link.pk)
    # A batch whose receiver ran while the link was a draft: its rows have no change yet.
    SyncLink.objects.unscoped().filter(pk=link.pk).update(state=SyncLink.State.DRAFT)
    world.mirror("a", {"id": "L9", "email": "late@acme.test"})
    SyncLink.objects.unscoped().filter(pk=link.pk).update(state=SyncLink.State.RUNNING)

    _catch_up(link, list(world.link.objects_linked.all()), since=link.started_at - timedelta(minutes=10))

    assert list(changes.filter(external_id="L9").values_list("side", flat=True)) == ["a"]
    assert changes.count() == 8


def test_a_second_start_is_harmless(django_capture_on_commit_callbacks):
    world = loaded_world()
    start(world, django_capture_on_commit_callbacks)

    link, callbacks = start(world, django_capture_on_commit_callbacks)

    assert link.state == SyncLink.State.RUNNING
    assert LinkChange.objects.for_organization(world.organization).count() == 7
    assert RecordPair.objects.for_organization(world.organization).count() == 1
    assert callbacks == []


def test_a_link_whose_configuration_does_not_fit_does_not_start():
    world = loaded_world()
    field = world.fields[0]
    field.field_b = "lastnme"
    field.save()

    with pytest.raises(LinkConfigError) as raised:
        link_start(world.link)

    assert raised.value.problems == ["acme-sync: lead ⇄ contact: side B (HubSpot) has no field 'lastnme'"]
    world.link.refresh_from_db()
    assert world.link.state == SyncLink.State.DRAFT
    assert not LinkChange.objects.for_organization(world.organization).exists()


def test_a_link_with_no_object_pairs_does_not_start():
    world = loaded_world()
    world.lead_contact.delete()

    with pytest.raises(LinkConfigError, match="acme-sync: no object pairs to keep in step"):
        link_start(world.link)


def test_a_link_does_not_start_before_both_mirrors_finished_a_load():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ng@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ng@acme.test"}, status=SyncRun.Status.FAILED)

    with pytest.raises(LinkConfigError) as raised:
        link_start(world.link)

    [problem] = raised.value.problems
    assert problem.startswith("acme-sync: lead ⇄ contact: side B (HubSpot) has not mirrored 'contact' yet")
    assert not RecordPair.objects.for_organization(world.organization).exists()


def test_a_link_naming_another_organizations_connection_never_starts():
    world = loaded_world()
    other = World("bolt")
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(connection_b=other.hubspot)
    world.link.refresh_from_db()

    with pytest.raises(LinkConfigError):
        link_start(world.link)

    assert not LinkChange.objects.unscoped().exists()


def test_pause_and_resume(django_capture_on_commit_callbacks):
    world = loaded_world()
    with pytest.raises(ApplicationError):
        link_pause(world.link)
    start(world, django_capture_on_commit_callbacks)

    link = link_pause(world.link, reason="CRM maintenance")
    assert link.state == SyncLink.State.PAUSED
    assert link.pause_reason == "CRM maintenance"
    assert link_pause(world.link).pause_reason == "CRM maintenance"  # pausing twice keeps the first pause
    with pytest.raises(ApplicationError):
        link_start(world.link)

    with django_capture_on_commit_callbacks() as callbacks:
        link = link_resume(world.link)
    assert link.state == SyncLink.State.RUNNING
    assert link.paused_at is None
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        link_resume(world.link)  # resuming a running link asks the engine again
    assert len(callbacks) == 1


def test_resolving_a_review_by_linking_pairs_the_records_and_settles_the_chosen_ones_review(
    django_capture_on_commit_callbacks,
):
    world = loaded_world()
    start(world, django_capture_on_commit_callbacks)
    review = MatchReview.objects.for_organization(world.organization).get(side="a", external_id="L2")
    before = LinkChange.objects.for_organization(world.organization).count()

    with django_capture_on_commit_callbacks() as callbacks:
        review = review_resolve(review, choice="link", chosen_id="C5")

    assert review.state == MatchReview.State.LINKED
    pair = RecordPair.objects.for_organization(world.organization).get(id_a="L2")
    assert (pair.id_b, pair.matched_by) == ("C5", "manual")
    new = LinkChange.objects.for_organization(world.organization).order_by("id")[before:]
    assert [(c.side, c.external_id) for c in new] == [("a", "L2"), ("b", "C5")]
    settled = MatchReview.objects.for_organization(world.organization).get(side="b", external_id="C5")
    assert (settled.state, settled.chosen_id) == (MatchReview.State.LINKED, "L2")
    assert len(callbacks) == 1
    assert review_resolve(review, choice="link", chosen_id="C5").state == MatchReview.State.LINKED  # again: harmless
    with pytest.raises(ApplicationError):
        review_resolve(review, choice="ignore")


def test_a_review_links_only_to_a_live_record_no_pair_holds(django_capture_on_commit_callbacks):
    world = loaded_world()
    start(world, django_capture_on_commit_callbacks)
    review = MatchReview.objects.for_organization(world.organization).get(side="a", external_id="L2")

    for chosen in ("C1", "nope", ""):
        with pytest.raises(ApplicationError):
            review_resolve(review, choice="link", chosen_id=chosen)


def test_resolving_a_review_by_create_or_ignore(django_capture_on_commit_callbacks):
    world = loaded_world()
    start(world, django_capture_on_commit_callbacks)
    review = MatchReview.objects.for_organization(world.organization).get(side="b", external_id="C4")

    review_resolve(review, choice="create")

    pair = RecordPair.objects.for_organization(world.organization).get(id_b="C4")
    assert (pair.id_a, pair.matched_by) == ("", "created")
    other = MatchReview.objects.for_organization(world.organization).get(side="b", external_id="C5")
    assert review_resolve(other, choice="ignore").state == MatchReview.State.IGNORED
    assert not RecordPair.objects.for_organization(world.organization).filter(id_b="C5").exists()


def test_other_organizations_are_untouched_by_a_start(django_capture_on_commit_callbacks):
    world = loaded_world()
    other = World("bolt")
    other.mirror("a", {"id": "L1", "email": "ng@acme.test"})
    other.mirror("b", {"id": "C1", "email": "ng@acme.test"})

    start(world, django_capture_on_commit_callbacks)

    assert not LinkChange.objects.for_organization(other.organization).exists()
    assert not RecordPair.objects.for_organization(other.organization).exists()
    assert ProviderAccount.objects.for_organization(other.organization).count() == 2
    assert timezone.now() >= world.link.created_at
