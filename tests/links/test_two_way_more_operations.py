"""What happens around the writes between Dynamics 365 (side A, its contacts) and HubSpot (side B, its contacts),
both emulated on one sandbox over real HTTP, through the real mirror and engine (tests/links/world.py): a revoked
grant (writes wait, the link says which connection needs reconnecting, nothing is lost, and after the reconnect each
write lands once), a pause (changes recorded, written after the resume, once), and clears (propagated where the
field clears, never elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest

from django.core.cache import cache

from links.models import LinkChange, LinkObject, LinkWrite, RecordPair, Side, SyncLink
from links.selectors import link_status
from tests.links.world import Field, Objects, World, sandbox_fixture, tick

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ("dynamics", "hubspot")
FIELDS = [
    Field("firstname", "firstname"),  # never clears (empty never overwrites)
    Field("lastname", "lastname"),
    Field("emailaddress1", "email"),
    Field("jobtitle", "jobtitle", clears=True),
]


@pytest.fixture
def crms(request) -> World:
    cache.clear()  # tokens and budgets of another test's emulators
    server = request.getfixturevalue(sandbox_fixture(KINDS))
    yield World(server=server, kinds=KINDS)
    cache.clear()


def linked(world: World, count: int) -> tuple[LinkObject, list[RecordPair]]:
    """`count` contacts made on A (every field filled), created on B by the first sync, settled; in A's order."""
    ids = [
        world.harness(Side.A).create_record(
            "contact",
            {
                "firstname": f"Hal{n}",
                "lastname": f"Ops{n}",
                "emailaddress1": f"hal{n}@peak.test",
                "jobtitle": f"Trainer {n}",
            },
        )
        for n in range(count)
    ]
    world.link_create(Objects("contact", "contact", fields=FIELDS))
    link_object = world.link_object("contact")
    world.mirror_all()
    world.start()
    world.quiesce()
    by_a = {pair.id_a: pair for pair in world.pairs(link_object)}
    assert set(by_a) == set(ids), world.dump()
    assert all(pair.id_b for pair in by_a.values()), world.dump()
    assert not world.differences(link_object), world.differences(link_object)
    return link_object, [by_a[record_id] for record_id in ids]


def held(world: World, side: str, pair: RecordPair, name: str) -> Any:
    return world.values(side, "contact", pair.record_id(side), [name])[name]


def reconnect(world: World, side: str) -> None:
    """A manager reconnects the connection: the CRM's consent page again, for the portal it belongs to."""
    harness = world.harness(side)
    harness._consenting = harness.hs  # the harness consents on the portal it made for `unconnected`
    provider = harness.provider()
    session: dict = {}
    params = harness.consent(provider.authorize_url(session=session))
    provider.finish_connect(params=params, session=session, connected_by="manager@peak.test")


def round_without_quiescence(world: World) -> None:
    """One round as the schedule runs it (mirror both sides, apply), with waits brought forward: for states that
    cannot settle (a connection to reconnect, a paused link)."""
    world.mirror_all()
    world.apply()
    world.clock_forward()


def revoked_then_reconnected(world: World) -> tuple[LinkObject, list[RecordPair]]:
    link_object, pairs = linked(world, 2)
    world.harness(Side.B).revoke_grant()
    world.harness(Side.B).revoke_access_tokens()
    tick(world)
    world.harness(Side.A).edit_record("contact", pairs[0].id_a, {"jobtitle": "Head Coach"})
    world.harness(Side.B).edit_record("contact", pairs[1].id_b, {"lastname": "Meanwhile"})  # B cannot be read now
    written = world.written()
    for _ in range(3):
        round_without_quiescence(world)
    assert world.written()[Side.B] == written[Side.B]
    writes = world.writes(pair_id=pairs[0].pk, side=Side.B, operation=LinkWrite.Operation.UPDATE)
    assert [w.state for w in writes] == [LinkWrite.State.PENDING], world.dump()
    assert writes[0].attempts == 0
    assert writes[0].values == {"jobtitle": "Head Coach"}
    status = link_status(world.refresh())
    assert status.state == SyncLink.State.RUNNING
    assert "needs reconnecting" in status.blocked_reason, status
    assert world.link.connection_b.name in status.blocked_reason
    assert (status.pending_writes, status.failed_writes) == (1, 0), status

    reconnect(world, Side.B)
    quiet = world.quiesce()
    assert quiet.written == {Side.A: 1, Side.B: 1}, f"{quiet}\n{world.dump()}"
    assert held(world, Side.B, pairs[0], "jobtitle") == "Head Coach"
    assert held(world, Side.A, pairs[1], "lastname") == "Meanwhile", "B's change made while revoked was lost"
    done = world.writes(pair_id=pairs[0].pk, side=Side.B, operation=LinkWrite.Operation.UPDATE)
    assert [w.state for w in done] == [LinkWrite.State.DONE], world.dump()
    assert not world.differences(link_object), world.differences(link_object)
    assert world.quiesce().total == 0
    return link_object, pairs


def test_a_revoked_grant_keeps_the_writes_pending_says_so_and_they_land_once_after_the_reconnect(crms):
    revoked_then_reconnected(crms)


def test_the_link_is_no_longer_blocked_once_the_connection_is_reconnected(crms):
    revoked_then_reconnected(crms)
    assert link_status(crms.refresh()).blocked_reason == ""


def test_changes_while_paused_are_recorded_and_written_once_after_the_resume(crms):
    link_object, pairs = linked(crms, 3)
    crms.pause(reason="the gym's CRM migration")
    tick(crms)
    crms.harness(Side.A).edit_record("contact", pairs[0].id_a, {"jobtitle": "Paused A"})
    crms.harness(Side.B).edit_record("contact", pairs[1].id_b, {"lastname": "PausedB"})
    written = crms.written()
    for _ in range(2):
        round_without_quiescence(crms)
    assert crms.written() == written, "a paused link wrote"
    recorded = LinkChange.objects.unscoped().filter(link=crms.link, processed_at__isnull=True)
    assert {(c.side, c.external_id) for c in recorded} >= {(Side.A, pairs[0].id_a), (Side.B, pairs[1].id_b)}
    status = link_status(crms.refresh())
    assert status.state == SyncLink.State.PAUSED, status
    assert status.pending_changes >= 2, status
    assert status.blocked_reason == ""

    crms.resume()
    quiet = crms.quiesce()
    assert quiet.written == {Side.A: 1, Side.B: 1}, f"{quiet}\n{crms.dump()}"
    assert held(crms, Side.B, pairs[0], "jobtitle") == "Paused A"
    assert held(crms, Side.A, pairs[1], "lastname") == "PausedB"
    assert not crms.differences(link_object), crms.differences(link_object)
    assert crms.quiesce().total == 0


def test_a_clear_propagates_where_the_field_clears_and_never_elsewhere(crms):
    _, pairs = linked(crms, 3)
    tick(crms)
    crms.harness(Side.A).edit_record("contact", pairs[0].id_a, {"jobtitle": ""})  # clears
    crms.harness(Side.B).edit_record("contact", pairs[1].id_b, {"jobtitle": ""})  # clears
    crms.harness(Side.B).edit_record("contact", pairs[2].id_b, {"firstname": ""})  # does not clear
    quiet = crms.quiesce()
    assert held(crms, Side.B, pairs[0], "jobtitle") is None
    assert held(crms, Side.A, pairs[1], "jobtitle") is None
    assert held(crms, Side.A, pairs[2], "firstname") == "Hal2", "an empty value overwrote a real one"
    assert held(crms, Side.B, pairs[2], "firstname") is None
    assert quiet.written == {Side.A: 1, Side.B: 1}, f"{quiet}\n{crms.dump()}"
    assert not crms.writes(pair_id=pairs[2].pk, side=Side.A, origin=LinkWrite.Origin.B)
    assert crms.quiesce().total == 0


def test_the_same_field_changed_on_both_sides_while_paused_goes_to_the_later_change_after_the_resume(crms):
    from links.models import LinkConflict

    link_object, pairs = linked(crms, 2)
    crms.pause()
    tick(crms)
    crms.harness(Side.A).edit_record("contact", pairs[0].id_a, {"lastname": "EarlierA"})
    tick(crms)
    crms.harness(Side.B).edit_record("contact", pairs[0].id_b, {"lastname": "LaterB"})
    round_without_quiescence(crms)
    crms.resume()
    quiet = crms.quiesce()
    assert held(crms, Side.A, pairs[0], "lastname") == "LaterB", crms.dump()
    assert held(crms, Side.B, pairs[0], "lastname") == "LaterB", crms.dump()
    assert quiet.written == {Side.A: 1, Side.B: 0}, f"{quiet}\n{crms.dump()}"
    conflicts = list(LinkConflict.objects.unscoped().filter(pair_id=pairs[0].pk))
    assert [c.winner for c in conflicts] == [Side.B], conflicts
    assert not crms.differences(link_object), crms.differences(link_object)
    assert crms.quiesce().total == 0
