import pytest

from links.matching import UNDER_REVIEW, counterparts, present
from links.models import MatchReview, RecordPair
from tests.links.firstsync_helpers import SPECS, World

pytestmark = pytest.mark.django_db


def match(world, side, *ids, **options):
    return counterparts(link_object=world.lead_contact, side=side, external_ids=list(ids), specs=SPECS, **options)


def test_records_match_by_normalized_email_from_the_column_and_email_fields():
    world = World()
    world.mirror("a", {"id": "L1", "email": " Ana@Acme.TEST "}, {"id": "L2", "custom": {"Secondary_Email": "b@x.test"}})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"}, {"id": "C2", "email": "B@X.test"})

    found = match(world, "a", "L1", "L2")

    assert found["L1"].candidates == ("C1",)
    assert found["L1"].matched_by == "email"
    assert found["L1"].value == "ana@acme.test"
    assert not found["L1"].ambiguous
    assert found["L2"].candidates == ("C2",)


def test_external_id_decides_before_email_and_phone():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test", "custom": {"Leadline_Id": "u-1"}})
    world.mirror(
        "b",
        {"id": "C1", "email": "ana@acme.test"},
        {"id": "C2", "email": "other@acme.test", "custom": {"leadline_id": "u-1"}},
    )

    found = match(world, "a", "L1")

    assert found["L1"].candidates == ("C2",)
    assert found["L1"].matched_by == "external_id"


def test_phones_match_in_e164_through_the_mirror_phone_rows():
    world = World(match_by=("phone",))
    world.mirror("a", {"id": "L1", "phone": "+14155550199"}, {"id": "L2", "phone": "+14155550198"})
    world.mirror("b", {"id": "C1", "phone": "+14155550199"})

    found = match(world, "a", "L1", "L2")

    assert found["L1"].candidates == ("C1",)
    assert found["L1"].matched_by == "phone"
    assert "L2" not in found  # no candidate: absent


def test_only_the_rules_of_match_by_are_used():
    world = World(match_by=("phone",))
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"})

    assert match(world, "a", "L1") == {}


def test_one_record_matching_several_is_ambiguous():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"}, {"id": "C2", "email": "ANA@acme.test"})

    found = match(world, "a", "L1")

    assert found["L1"].candidates == ("C1", "C2")
    assert found["L1"].ambiguous


def test_a_candidate_two_records_claim_is_ambiguous_for_both_even_outside_the_call():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"}, {"id": "L2", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"})

    both = match(world, "a", "L1", "L2")
    alone = match(world, "a", "L1")

    assert both["L1"].ambiguous
    assert both["L1"].claimed_by == ("L2",)
    assert both["L2"].ambiguous
    assert both["L2"].claimed_by == ("L1",)
    assert alone["L1"].ambiguous
    assert alone["L1"].claimed_by == ("L2",)


def test_two_records_whose_only_candidate_is_one_record_by_different_rules_are_ambiguous():
    world = World()
    world.mirror(
        "a",
        {"id": "L1", "custom": {"Leadline_Id": "u-1"}},
        {"id": "L2", "email": "ana@acme.test"},
    )
    world.mirror("b", {"id": "C1", "email": "ana@acme.test", "custom": {"leadline_id": "u-1"}})

    found = match(world, "a", "L1", "L2")

    assert found["L1"].ambiguous
    assert found["L2"].ambiguous


def test_paired_and_deleted_records_are_no_candidates():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"}, {"id": "C2", "email": "ana@acme.test"})
    RecordPair.objects.create(
        organization=world.organization,
        link=world.link,
        link_object=world.lead_contact,
        id_a="L9",
        id_b="C1",
        matched_by="email",
    )
    world.delete("b", "C2")

    assert match(world, "a", "L1") == {}


def test_taken_ids_of_a_dry_run_are_no_candidates():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"})

    assert match(world, "a", "L1", taken={"C1"}) == {}


def test_a_candidate_under_review_is_not_taken_by_another_record():
    world = World()
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ana@acme.test"})
    MatchReview.objects.create(
        organization=world.organization,
        link=world.link,
        link_object=world.lead_contact,
        side="b",
        external_id="C1",
        candidates=["L1", "L7"],
        matched_by="email",
    )

    found = match(world, "a", "L1")

    assert found["L1"].ambiguous
    assert found["L1"].claimed_by == ("L7",)
    MatchReview.objects.unscoped().update(candidates=["L1"])
    assert match(world, "a", "L1")["L1"].claimed_by == (UNDER_REVIEW,)


def test_matching_never_reaches_another_organizations_mirror():
    world = World("acme")
    other = World("bolt")
    world.mirror("a", {"id": "L1", "email": "ana@acme.test"})
    other.mirror("b", {"id": "C1", "email": "ana@acme.test"})

    assert match(world, "a", "L1") == {}


def test_matching_is_bulk_a_few_queries_whatever_the_number_of_records(django_assert_max_num_queries):
    world = World()
    world.mirror("a", *[{"id": f"L{i}", "email": f"p{i}@acme.test", "phone": f"+1415555{i:04d}"} for i in range(300)])
    world.mirror("b", *[{"id": f"C{i}", "email": f"p{i}@acme.test"} for i in range(0, 300, 2)])
    ids = [f"L{i}" for i in range(300)]

    with django_assert_max_num_queries(20):
        found = match(world, "a", *ids)

    assert len(found) == 150
    assert all(not m.ambiguous for m in found.values())


def test_many_values_are_matched_by_one_read_of_the_free_rows(monkeypatch):
    world = World()
    world.mirror(
        "a",
        *[{"id": f"L{i}", "email": f"p{i}@acme.test"} for i in range(8)],
        *[{"id": f"P{i}", "phone": f"+1415555{i:04d}"} for i in range(8)],
    )
    world.mirror(
        "b",
        *[{"id": f"C{i}", "email": f"P{i}@acme.test"} for i in range(0, 8, 2)],
        *[{"id": f"Q{i}", "phone": f"+1415555{i:04d}"} for i in range(0, 8, 2)],
        {"id": "C99", "email": "p0@acme.test"},
    )
    ids = [f"L{i}" for i in range(8)] + [f"P{i}" for i in range(8)]
    small = match(world, "a", *ids)
    monkeypatch.setattr("links.matching.CHUNK", 3)

    assert match(world, "a", *ids) == small
    assert small["L0"].candidates == ("C0", "C99")
    assert small["L2"].candidates == ("C2",)
    assert small["P4"].candidates == ("Q4",)
    assert "L1" not in small


def test_a_json_null_read_as_text_is_no_value_to_match_by():
    # SQLite (the embedded default) reads a JSON null as "null": records without an external id must not all match.
    assert not present("null")
    assert not present("")
    assert not present(None)
    assert present("0")
