"""The planner's rules, from mirror rows and recorded changes to writes, conflicts, pairs and reviews."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from django.db import transaction
from django.utils import timezone

from links.apply import changes_pending
from links.conversions import value_hash
from links.metadata import link_specs
from links.models import LinkChange, LinkConflict, LinkObject, LinkWrite, MatchReview, RecordPair, SyncLink
from links.planner import changes_plan, pair_differences
from links.writer import _finish, _mark_sending

NY = ZoneInfo("America/New_York")


def plan(world) -> int:
    with transaction.atomic():
        pending = list(changes_pending(world.link).order_by("id"))
        return changes_plan(link=world.link, changes=pending, specs=link_specs(world.link), now=timezone.now())


def writes(world, **filters):
    return list(LinkWrite.objects.unscoped().filter(link=world.link, **filters).order_by("id"))


def pair_of(world, id_a):
    return RecordPair.objects.unscoped().get(link_object=world.leads, id_a=id_a)


def sent(write, record_id=None):
    """The write sent and acknowledged by the CRM, as the writer records it."""
    _mark_sending([write], write.side, timezone.now())
    _finish([write], [(record_id or write.pair.record_id(write.side), None)], write.side)


def later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


SAME_A = {
    "Last_Name": "Ng",
    "Email": "ng@x.test",
    "Lead_Status": "New",
    "Score": 5,
    "Budget": Decimal("10"),
    "VIP": True,
}
SAME_B = {
    "lastname": "Ng",
    "email": "ng@x.test",
    "hs_lead_status": "NEW",
    "score": 5,
    "budget": Decimal("10"),
    "vip": True,
}


@pytest.fixture
def paired(world):
    """Lead 1 on A and contact b1 on B, matched by e-mail, holding the same values: agreed, nothing written."""
    world.mirror("a", [world.lead_a("1", modified=later(-60), **SAME_A)])
    world.mirror("b", [world.lead_b("b1", modified=later(-60), **SAME_B)])
    plan(world)
    assert writes(world) == []
    return pair_of(world, "1")


def test_an_unmatched_record_is_created_on_the_other_side(world):
    world.mirror(
        "a",
        [world.lead_a("1", Last_Name="Ng", Lead_Status="Contacted", Birthday=date(1990, 5, 17), Owner="za-9")],
    )
    assert plan(world) == 1
    pair = pair_of(world, "1")
    assert (pair.id_b, pair.matched_by) == ("", RecordPair.MatchedBy.CREATED)
    [create] = writes(world)
    assert (create.side, create.operation, create.origin) == ("b", "create", LinkWrite.Origin.FIRST_SYNC)
    assert create.values == {
        "lastname": "Ng",
        "hs_lead_status": "CONNECTED",
        "birth_at": datetime(1990, 5, 17, tzinfo=NY).isoformat(),
    }  # the owner has no counterpart on B: left out, never a wrong one
    assert create.hashes[str(world.fields["last_name"].pk)] == value_hash("Ng")


def test_no_create_where_the_link_does_not_create(world):
    LinkObject.objects.unscoped().filter(pk=world.leads.pk).update(create_b=False)
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    plan(world)
    assert writes(world) == []


def test_a_record_matched_by_email_is_paired_and_only_differences_written(world):
    world.mirror("a", [world.lead_a("1", modified=later(-30), Last_Name="Ng", Email="NG@x.test", Score=7)])
    world.mirror("b", [world.lead_b("b1", modified=later(-60), lastname="Ng", email="ng@x.test")])
    plan(world)
    pair = pair_of(world, "1")
    assert (pair.id_b, pair.matched_by) == ("b1", RecordPair.MatchedBy.EMAIL)
    [update] = writes(world)
    assert (update.side, update.operation, update.values) == ("b", "update", {"score": 7})


def test_ambiguous_matches_go_to_review_and_nothing_is_written(world):
    world.mirror("b", [world.lead_b("b1", lastname="Ng", email="ng@x.test"), world.lead_b("b2", email="ng@x.test")])
    world.mirror("a", [world.lead_a("1", Last_Name="Ng", Email="ng@x.test")])
    plan(world)
    review = MatchReview.objects.unscoped().get(link_object=world.leads, side="a", external_id="1")
    assert (sorted(review.candidates), review.state) == (["b1", "b2"], MatchReview.State.OPEN)
    assert not RecordPair.objects.unscoped().filter(link_object=world.leads, id_a="1").exists()
    assert [w for w in writes(world) if w.pair.id_a == "1"] == []


def test_a_change_is_written_once_and_its_echo_is_not_propagated_back(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Nguyen"})])
    plan(world)
    [update] = writes(world)
    assert (update.side, update.values, update.previous) == ("b", {"lastname": "Nguyen"}, {"lastname": "Ng"})
    sent(update)
    world.mirror("b", [world.lead_b("b1", modified=later(2), **{**SAME_B, "lastname": "Nguyen"})])
    plan(world)
    assert writes(world) == [update]  # the echo from B writes nothing back to A
    assert all(c.processed_at for c in world.changes())


def test_an_echo_the_crm_normalized_is_known_by_its_source_tag(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "van Dijk"})])
    plan(world)
    [update] = writes(world)
    sent(update)
    # B stores what we wrote capitalized: not our hash, but B's source tag says our app made the change
    world.mirror("b", [world.lead_b("b1", modified=later(2), **{**SAME_B, "lastname": "Van Dijk"})])
    LinkChange.objects.unscoped().filter(link=world.link, processed_at__isnull=True).update(by_us=True)
    plan(world)
    assert writes(world) == [update]
    state = pair_of(world, "1").field_state[str(world.fields["last_name"].pk)]
    assert state["wb"] == value_hash("Van Dijk")


def test_without_the_source_tag_a_normalized_echo_differs_and_goes_back(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "van Dijk"})])
    plan(world)
    sent(writes(world)[0])
    world.mirror("b", [world.lead_b("b1", modified=later(2), **{**SAME_B, "lastname": "Van Dijk"})])
    plan(world)
    back = writes(world, side="a")
    assert [w.values for w in back] == [{"Last_Name": "Van Dijk"}]


def test_a_stale_read_of_the_written_side_is_no_change_of_it(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Nguyen"})])
    plan(world)
    sent(writes(world)[-1])
    # B's mirror reads the record as it was before our write landed (a change of another field)
    world.mirror("b", [world.lead_b("b1", modified=later(0.5), **{**SAME_B, "score": 6})])
    plan(world)
    assert [(w.side, w.values) for w in writes(world)] == [("b", {"lastname": "Nguyen"})]
    assert LinkConflict.objects.unscoped().filter(link=world.link).count() == 0


def test_a_value_the_other_side_already_holds_is_not_written(world, paired):
    world.mirror("b", [world.lead_b("b1", modified=later(1), **{**SAME_B, "lastname": "Ngo"})])
    world.mirror("a", [world.lead_a("1", modified=later(2), **{**SAME_A, "Last_Name": "Ngo"})])
    plan(world)
    assert writes(world) == []


def test_empty_never_overwrites_unless_the_field_clears(world, paired):
    cleared = {**SAME_A, "Last_Name": None, "VIP": None}
    world.mirror("a", [world.lead_a("1", modified=later(1), **cleared)])
    plan(world)
    [update] = writes(world)
    assert update.values == {"vip": None}  # VIP clears; the last name does not


def test_latest_change_wins_a_conflict_and_it_is_logged(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Email": "a@x.test"})])
    world.mirror("b", [world.lead_b("b1", modified=later(2), **{**SAME_B, "email": "b@x.test"})])
    plan(world)
    [write] = writes(world)
    assert (write.side, write.values) == ("a", {"Email": "b@x.test"})
    [conflict] = LinkConflict.objects.unscoped().filter(link=world.link)
    assert (conflict.winner, conflict.rule, conflict.value_a, conflict.value_b) == (
        "b",
        "latest",
        "a@x.test",
        "b@x.test",
    )


def test_a_tie_goes_to_side_a(world, paired):
    moment = later(1)
    world.mirror("a", [world.lead_a("1", modified=moment, **{**SAME_A, "Email": "a@x.test"})])
    world.mirror("b", [world.lead_b("b1", modified=moment, **{**SAME_B, "email": "b@x.test"})])
    plan(world)
    [write] = writes(world)
    assert (write.side, write.values) == ("b", {"email": "a@x.test"})
    assert LinkConflict.objects.unscoped().get(link=world.link).rule == LinkConflict.Rule.TIE


def test_a_named_side_wins_whatever_the_times(world, paired):
    world.mirror("b", [world.lead_b("b1", modified=later(1), **{**SAME_B, "budget": Decimal("20"), "vip": False})])
    world.mirror("a", [world.lead_a("1", modified=later(2), **{**SAME_A, "Budget": Decimal("30"), "VIP": None})])
    plan(world)
    to_a, to_b = writes(world, side="a"), writes(world, side="b")
    assert [w.values for w in to_a] == [{"Budget": "20"}]  # budget: B always wins
    assert [w.values for w in to_b] == [{"vip": None}]  # VIP: A always wins (and clears)
    rules = sorted(LinkConflict.objects.unscoped().filter(link=world.link).values_list("rule", "winner"))
    assert rules == [("a_wins", "a"), ("b_wins", "b")]


def test_changes_before_a_send_merge_into_one_pending_write(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Ngo"})])
    plan(world)
    world.mirror("a", [world.lead_a("1", modified=later(2), **{**SAME_A, "Last_Name": "Ngo", "Score": 9})])
    plan(world)
    [update] = writes(world)
    assert update.values == {"lastname": "Ngo", "score": 9}


def test_a_one_way_field_does_not_flow_back(world, paired):
    world.mirror("b", [world.lead_b("b1", modified=later(1), **{**SAME_B, "score": 99})])
    plan(world)
    assert writes(world) == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (LinkObject.Deletes.MIRROR, [("delete", {})]),
        (LinkObject.Deletes.ARCHIVE, [("archive", {"hs_lead_status": "LOST"})]),
        (LinkObject.Deletes.IGNORE, []),
    ],
)
def test_a_confirmed_delete_follows_the_links_policy(world, paired, policy, expected):
    LinkObject.objects.unscoped().filter(pk=world.leads.pk).update(deletes=policy, archive_b={"hs_lead_status": "LOST"})
    world.delete("a", ["1"], confirmed=True)
    plan(world)
    assert [(w.operation, w.values) for w in writes(world, side="b")] == expected
    assert pair_of(world, "1").state == RecordPair.State.DELETED_A


def test_an_unconfirmed_delete_waits_for_the_crms_word(world, paired):
    LinkObject.objects.unscoped().filter(pk=world.leads.pk).update(deletes=LinkObject.Deletes.MIRROR)
    world.delete("a", ["1"], confirmed=False)
    assert list(changes_pending(world.link)) == []
    plan(world)
    assert writes(world) == []
    assert pair_of(world, "1").state == RecordPair.State.LINKED


def test_a_record_deleted_on_one_side_is_never_recreated_there(world, paired):
    world.delete("b", ["b1"], confirmed=True)
    plan(world)
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Ngo"})])
    plan(world)
    assert writes(world) == []


def test_a_lookup_waits_for_its_record_to_be_linked(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Ngo", "Account_Name": "acc-1"})])
    plan(world)
    [update] = writes(world)
    assert update.values == {"lastname": "Ngo"}  # the other fields go
    [change] = world.changes(processed_at__isnull=True)
    assert change.attempts == 1
    assert change.due_at > timezone.now()
    RecordPair.objects.create(
        organization=world.organization,
        link=world.link,
        link_object=world.accounts,
        id_a="acc-1",
        id_b="co-1",
        matched_by=RecordPair.MatchedBy.EXTERNAL_ID,
    )
    LinkChange.objects.unscoped().filter(pk=change.pk).update(due_at=timezone.now())
    plan(world)
    [update] = writes(world)
    assert update.values == {"lastname": "Ngo", "company": "co-1"}


def test_owners_unmapped_are_left_out(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Owner": "za-7", "Score": 8})])
    plan(world)
    [update] = writes(world)
    assert update.values == {"score": 8}


def test_owners_mapped_by_the_link_are_written(world, paired):
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(owners=[{"a": "za-7", "b": "hs-7"}])
    world.link.refresh_from_db()
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Owner": "za-7"})])
    plan(world)
    [update] = writes(world)
    assert update.values == {"hubspot_owner_id": "hs-7"}


def test_a_paused_link_plans_nothing(world):
    world.mirror("a", [world.lead_a("1", Last_Name="Ng")])
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(state=SyncLink.State.PAUSED)
    world.link.refresh_from_db()
    assert plan(world) == 0
    assert writes(world) == []
    assert len(world.changes(processed_at__isnull=True)) == 1


def test_pair_differences_for_the_preview(world):
    from links.conversions import conversion_context
    from sync.models import CrmRecord

    world.mirror("a", [world.lead_a("1", modified=later(-10), Last_Name="Ng", Score=3, Email="a@x.test")])
    world.mirror("b", [world.lead_b("b1", modified=later(-5), lastname="Ng", email="b@x.test", vip=True)])
    rows = {r.external_id: r for r in CrmRecord.objects.unscoped().filter(organization=world.organization)}
    diff = pair_differences(
        link_object=world.leads,
        row_a=rows["1"],
        row_b=rows["b1"],
        specs=link_specs(world.link)[world.leads.pk],
        context=conversion_context(world.link),
    )
    assert diff.to_b == {"score": 3}
    assert diff.to_a == {"Email": "b@x.test", "VIP": True}
    assert [(f.field_a, winner, rule) for f, winner, rule in diff.conflicts] == [("Email", "b", "latest")]


def test_a_chunk_is_planned_in_a_bounded_number_of_queries(world, django_assert_max_num_queries):
    world.mirror("a", [world.lead_a(str(n), Last_Name=f"N{n}", Email=f"n{n}@x.test") for n in range(200)])
    world.mirror("b", [world.lead_b(f"b{n}", lastname=f"N{n}", email=f"n{n}@x.test") for n in range(100)])
    with django_assert_max_num_queries(60):
        plan(world)
    assert RecordPair.objects.unscoped().filter(link_object=world.leads).count() == 200
    assert len(writes(world, operation="create")) == 100


def test_a_side_returning_to_a_value_we_once_wrote_there_is_propagated(world, paired):
    world.mirror("a", [world.lead_a("1", modified=later(1), **{**SAME_A, "Last_Name": "Nguyen"})])
    plan(world)
    sent(writes(world)[-1])
    world.mirror("b", [world.lead_b("b1", modified=later(2), **{**SAME_B, "lastname": "Nguyen"})])  # the echo
    plan(world)
    world.mirror("b", [world.lead_b("b1", modified=later(3), **{**SAME_B, "lastname": "Ngo"})])  # a person on B
    plan(world)
    sent(writes(world, side="a")[-1])
    world.mirror("a", [world.lead_a("1", modified=later(4), **{**SAME_A, "Last_Name": "Ngo"})])  # the echo
    plan(world)
    world.mirror("a", [world.lead_a("1", modified=later(5), **{**SAME_A, "Last_Name": "Nguyen"})])  # back again
    plan(world)
    assert [(w.side, w.values) for w in writes(world)] == [
        ("b", {"lastname": "Nguyen"}),
        ("a", {"Last_Name": "Ngo"}),
        ("b", {"lastname": "Nguyen"}),
    ]
    assert LinkConflict.objects.unscoped().filter(link=world.link).count() == 0
