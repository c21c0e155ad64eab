"""A link's status (what waits, what failed, lag percentiles, what blocks it) and a field's history, scoped to an
organization, in a fixed number of queries whatever the number of links."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.utils import timezone

from links.models import LinkChange, LinkConflict, LinkWrite, MatchReview, SyncLink
from links.selectors import field_history, link_status, links_status
from tests.links.ops_rows import build, write

pytestmark = pytest.mark.django_db


def change(rows, *, seen_seconds_ago: float, processed: bool = False) -> LinkChange:
    now = timezone.now()
    return LinkChange.unscoped_objects.create(
        organization=rows.organization,
        link=rows.link,
        link_object=rows.link_object,
        side="a",
        external_id="1",
        seen_at=now - timedelta(seconds=seen_seconds_ago),
        processed_at=now if processed else None,
    )


def test_the_status_counts_what_waits_what_failed_conflicts_and_open_reviews(tenant_a):
    rows = build(tenant_a, "alpha")
    change(rows, seen_seconds_ago=90)
    change(rows, seen_seconds_ago=10)
    change(rows, seen_seconds_ago=5000, processed=True)  # done: neither pending nor the oldest
    write(rows.link, pair=rows.pair, state=LinkWrite.State.PENDING)
    write(rows.link, pair=rows.pair, state=LinkWrite.State.SENDING)
    write(rows.link, pair=rows.pair, state=LinkWrite.State.SKIPPED)
    old = LinkConflict.unscoped_objects.create(
        organization=rows.organization,
        link=rows.link,
        link_object=rows.link_object,
        pair=rows.pair,
        link_field=rows.link_field,
        winner="b",
        rule="b_wins",
    )
    LinkConflict.unscoped_objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    MatchReview.unscoped_objects.create(
        organization=rows.organization,
        link=rows.link,
        link_object=rows.link_object,
        side="b",
        external_id="9",
        candidates=["1", "2"],
        matched_by="email",
        state=MatchReview.State.IGNORED,
    )

    status = link_status(rows.link)

    assert status.state == SyncLink.State.RUNNING
    assert (status.pending_changes, status.pending_writes, status.failed_writes) == (2, 2, 1)
    assert status.conflicts_24h == 1  # the one of 25 hours ago is not counted
    assert status.open_reviews == 1  # the ignored one is resolved
    assert status.oldest_pending_seconds == pytest.approx(90, abs=5)
    assert status.last_write_at == rows.done.done_at
    assert status.blocked_reason == ""


def test_lag_is_the_p50_and_p99_of_done_writes_of_the_last_hour(tenant_a):
    rows = build(tenant_a, "alpha")
    LinkWrite.unscoped_objects.filter(pk=rows.done.pk).delete()
    now = timezone.now()
    for seconds in range(1, 101):  # lags of 1..100 s
        write(
            rows.link,
            pair=rows.pair,
            source_modified_at=now - timedelta(minutes=5, seconds=seconds),
            done_at=now - timedelta(minutes=5),
        )
    # Outside the window, or without a source time: not counted.
    write(rows.link, pair=rows.pair, source_modified_at=now - timedelta(hours=3), done_at=now - timedelta(hours=2))
    write(rows.link, pair=rows.pair, source_modified_at=None, done_at=now - timedelta(minutes=1))
    # The first sync's writes carry records last changed long ago: no lag of the link's.
    write(
        rows.link,
        pair=rows.pair,
        origin=LinkWrite.Origin.FIRST_SYNC,
        source_modified_at=now - timedelta(days=300),
        done_at=now - timedelta(minutes=1),
    )
    status = link_status(rows.link, now=now)
    assert status.lag_p50_seconds == pytest.approx(50.5, abs=0.01)
    assert status.lag_p99_seconds == pytest.approx(99.01, abs=0.01)


def test_a_crm_clock_ahead_of_ours_makes_no_negative_lag(tenant_a):
    rows = build(tenant_a, "alpha")
    now = timezone.now()
    LinkWrite.unscoped_objects.filter(pk=rows.done.pk).update(
        source_modified_at=now + timedelta(seconds=3), done_at=now - timedelta(seconds=1)
    )
    status = link_status(rows.link, now=now)
    assert status.lag_p50_seconds == 0.0
    assert status.lag_p99_seconds == 0.0


def test_a_link_without_writes_has_no_lag_and_nothing_pending(tenant_a):
    rows = build(tenant_a, "alpha")
    LinkWrite.unscoped_objects.filter(link=rows.link).delete()
    status = link_status(rows.link)
    assert status.lag_p50_seconds is None
    assert status.lag_p99_seconds is None
    assert status.oldest_pending_seconds is None
    assert status.last_write_at is None


def test_a_running_link_whose_connection_needs_reconnecting_is_blocked_a_paused_one_is_not(tenant_a):
    rows = build(tenant_a, "alpha")
    reason = f"{tenant_a.zoho.name} needs reconnecting: the CRM refused our token"
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(pause_reason=reason)
    rows.link.refresh_from_db()
    assert link_status(rows.link).blocked_reason == reason
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(state=SyncLink.State.PAUSED, pause_reason="holiday")
    rows.link.refresh_from_db()
    assert link_status(rows.link).blocked_reason == ""


def test_links_status_is_scoped_to_the_organization_and_operators_get_every_one(tenant_a, tenant_b):
    a = build(tenant_a, "alpha", digits="1")
    b = build(tenant_b, "bravo", digits="2")
    write(b.link, pair=b.pair, state=LinkWrite.State.FAILED)
    assert [s.link.pk for s in links_status(organization=tenant_a.organization)] == [a.link.pk]
    (of_b,) = links_status(organization=tenant_b.organization)
    assert of_b.failed_writes == 2
    assert {s.link.pk for s in links_status()} == {a.link.pk, b.link.pk}


def test_links_status_reads_a_fixed_number_of_queries(tenant_a, tenant_b, django_assert_max_num_queries):
    for i, tenant in enumerate((tenant_a, tenant_b)):
        build(tenant, f"m{i}", digits=str(i + 1))
    with django_assert_max_num_queries(7):  # links, changes, writes, lags, conflicts, reviews
        statuses = links_status()
    assert len(statuses) == 2


def test_field_history_lists_the_done_writes_of_that_field_on_either_side_oldest_first(tenant_a):
    rows = build(tenant_a, "alpha")
    now = timezone.now()
    to_a = write(
        rows.link,
        pair=rows.pair,
        side="a",
        values={"Last_Name": "Ng"},
        previous={"Last_Name": "Nguyen"},
        done_at=now,
    )
    write(rows.link, pair=rows.pair, side="a", values={"Email": "x@y.test"}, done_at=now)  # another field
    write(rows.link, pair=rows.pair, side="a", state=LinkWrite.State.PENDING, values={"Last_Name": "Later"})
    by_a_name = field_history(pair=rows.pair, field="Last_Name")
    assert [w.pk for w in by_a_name] == [rows.done.pk, to_a.pk]
    assert [w.pk for w in field_history(pair=rows.pair, field="lastname")] == [rows.done.pk, to_a.pk]
    assert field_history(pair=rows.pair, field="Email")[0].values == {"Email": "x@y.test"}
