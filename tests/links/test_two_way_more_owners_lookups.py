"""Owners and lookups between Zoho CRM (side A) and Salesforce (side B), both emulated on one sandbox over real HTTP,
through the real mirror and engine (tests/links/world.py): accounts ⇄ accounts, and contacts ⇄ contacts whose
account lookup goes through the accounts' id map and whose owner goes through the members who are a CRM user on
both connections (an owner with no counterpart is left out, never guessed)."""

from __future__ import annotations

import pytest

from django.core.cache import cache

from links.models import LinkChange, LinkWrite, Side
from sandbox import worlds
from tests.links.world import Field, Objects, World, sandbox_fixture, tick

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ("zoho", "salesforce")
ACCOUNTS = Objects("account", "account", fields=[Field("Account_Name", "Name")], match_by=("external_id",))
CONTACTS = Objects(
    "contact",
    "contact",
    fields=[
        Field("Last_Name", "LastName"),
        Field("Email", "Email"),
        Field("Account_Name", "AccountId"),
        Field("Owner", "OwnerId"),
    ],
)


@pytest.fixture
def crms(request) -> World:
    cache.clear()  # tokens and budgets of another test's emulators
    server = request.getfixturevalue(sandbox_fixture(KINDS))
    yield World(server=server, kinds=KINDS)
    cache.clear()


def users(world: World) -> tuple[list[str], list[str]]:
    zoho = [str(user["id"]) for user in worlds.DEMO_USERS]
    salesforce = [str(user["id"]) for user in world.harness(Side.B).sf.users()]
    assert len(zoho) >= 3, zoho
    assert len(salesforce) >= 2, salesforce
    return zoho, salesforce


def counterpart(world: World, object: str, side: str, record_id: str) -> str:
    pairs = world.pairs(world.link_object(object))
    pair = next(p for p in pairs if p.record_id(side) == record_id)
    other = pair.record_id(Side.B if side == Side.A else Side.A)
    assert other, world.dump()
    return other


def owner(world: World, side: str, record_id: str) -> str | None:
    name = "Owner" if side == Side.A else "OwnerId"
    return world.values(side, "contact", record_id, [name])[name]


def account_of(world: World, side: str, record_id: str) -> str | None:
    name = "Account_Name" if side == Side.A else "AccountId"
    return world.values(side, "contact", record_id, [name])[name]


def test_owners_go_through_members_on_both_sides_and_an_unmapped_owner_is_left_out(crms):
    zoho, salesforce = users(crms)
    crms.same_person(a=zoho[0], b=salesforce[0])
    crms.same_person(a=zoho[1], b=salesforce[1])
    a, b = crms.harness(Side.A), crms.harness(Side.B)
    mapped = a.create_record("contact", {"Last_Name": "Owned", "Email": "owned@peak.test", "Owner": {"id": zoho[1]}})
    unmapped = a.create_record(
        "contact", {"Last_Name": "Orphan", "Email": "orphan@peak.test", "Owner": {"id": zoho[2]}}
    )
    from_b = b.create_record("contact", {"LastName": "FromB", "Email": "fromb@peak.test", "OwnerId": salesforce[1]})
    crms.link_create(ACCOUNTS, CONTACTS)
    crms.mirror_all()
    crms.start()
    crms.quiesce()

    assert owner(crms, Side.B, counterpart(crms, "contact", Side.A, mapped)) == salesforce[1]
    orphan_b = counterpart(crms, "contact", Side.A, unmapped)
    assert owner(crms, Side.B, orphan_b) not in (None, zoho[2]), "the new record has the connection's user"
    assert owner(crms, Side.B, orphan_b) != salesforce[1]
    assert owner(crms, Side.A, counterpart(crms, "contact", Side.B, from_b)) == zoho[1]

    # A person hands the Zoho contact to a user who is nobody on Salesforce: Salesforce keeps its owner, nothing is
    # written; then to one who is: the owner follows.
    mapped_b = counterpart(crms, "contact", Side.A, mapped)
    tick(crms)
    a.edit_record("contact", mapped, {"Owner": {"id": zoho[2]}})
    quiet = crms.quiesce()
    assert quiet.written[Side.B] == 0, f"{quiet}\n{crms.dump()}"
    assert owner(crms, Side.B, mapped_b) == salesforce[1]
    tick(crms)
    a.edit_record("contact", mapped, {"Owner": {"id": zoho[0]}})
    crms.quiesce()
    assert owner(crms, Side.B, mapped_b) == salesforce[0]
    assert not crms.writes(state=LinkWrite.State.FAILED), crms.dump()
    assert crms.quiesce().total == 0


def test_a_contact_arrives_pointing_at_the_linked_account_even_when_planned_before_its_account_is_linked(crms):
    a, b = crms.harness(Side.A), crms.harness(Side.B)
    account_a = a.create_record("account", {"Account_Name": "Peak Boulder"})
    contact_a = a.create_record(
        "contact", {"Last_Name": "Member", "Email": "member@peak.test", "Account_Name": {"id": account_a}}
    )
    account_b = b.create_record("account", {"Name": "Peak Denver"})
    contact_b = b.create_record("contact", {"LastName": "Coach", "Email": "coach@peak.test", "AccountId": account_b})
    crms.link_create(ACCOUNTS, CONTACTS)
    crms.mirror_all()
    crms.start()
    crms.quiesce()
    assert account_of(crms, Side.B, counterpart(crms, "contact", Side.A, contact_a)) == counterpart(
        crms, "account", Side.A, account_a
    )
    assert account_of(crms, Side.A, counterpart(crms, "contact", Side.B, contact_b)) == counterpart(
        crms, "account", Side.B, account_b
    )

    # A new account and its contact on Zoho; the contacts are mirrored (and planned) before the accounts are.
    tick(crms)
    late_account = a.create_record("account", {"Account_Name": "Peak Golden"})
    late_contact = a.create_record(
        "contact", {"Last_Name": "Newcomer", "Email": "newcomer@peak.test", "Account_Name": {"id": late_account}}
    )
    crms.mirror(Side.A, "contact")
    crms.apply()
    waiting = LinkChange.objects.unscoped().filter(
        link=crms.link, side=Side.A, external_id=late_contact, processed_at__isnull=True
    )
    assert waiting.exists(), f"the contact's change did not wait for its account\n{crms.dump()}"
    assert all(change.due_at is not None for change in waiting)
    crms.quiesce()
    late_contact_b = counterpart(crms, "contact", Side.A, late_contact)
    assert account_of(crms, Side.B, late_contact_b) == counterpart(crms, "account", Side.A, late_account)
    assert len(crms.record_ids(Side.B, "contact")) == 3
    assert len(crms.record_ids(Side.B, "account")) == 3
    assert len(crms.record_ids(Side.A, "contact")) == 3
    assert len(crms.record_ids(Side.A, "account")) == 3
    assert not crms.writes(state=LinkWrite.State.FAILED), crms.dump()
    assert crms.quiesce().total == 0


def test_a_contact_made_on_salesforce_before_its_account_is_linked_waits_for_it_then_points_at_it_on_zoho(crms):
    crms.link_create(ACCOUNTS, CONTACTS)
    crms.mirror_all()
    crms.start()
    crms.quiesce()
    b = crms.harness(Side.B)
    tick(crms)
    account_b = b.create_record("account", {"Name": "Peak Littleton"})
    contact_b = b.create_record("contact", {"LastName": "Early", "Email": "early@peak.test", "AccountId": account_b})
    crms.mirror(Side.B, "contact")
    report = crms.apply()
    assert report.counts.waiting >= 1, f"{report}\n{crms.dump()}"
    crms.quiesce()
    contact_a = counterpart(crms, "contact", Side.B, contact_b)
    assert account_of(crms, Side.A, contact_a) == counterpart(crms, "account", Side.B, account_b)
    assert crms.record_ids(Side.A, "contact") == {contact_a}
    assert len(crms.record_ids(Side.A, "account")) == 1
    assert not crms.writes(state=LinkWrite.State.FAILED), crms.dump()
    assert crms.quiesce().total == 0
