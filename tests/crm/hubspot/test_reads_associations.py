"""Where a contact's company comes from: its `associatedcompanyid` (HubSpot's primary associated company, returned
by the search with the other properties) by default, so reading contacts makes no association call; the
associations API for a deal's contacts and companies, and for contacts too with the provider option
`associations="calls"`. Against the emulator over real HTTP."""

from __future__ import annotations

import pytest

from crm.records import Cursor
from crm.registry import provider_for

LEAD = "lead"
PRIMARY = 1  # HubSpot's contact -> company "Primary" association type


def counted(provider):
    """The association batch reads the provider's client makes, by (from, to) type."""
    calls: list[tuple[str, str]] = []
    client = provider.client
    original = client.associations_read

    def associations_read(from_type, to_type, ids):
        calls.append((from_type, to_type))
        return original(from_type, to_type, ids)

    client.associations_read = associations_read
    return calls


def associate(hs, contact_id, company_id, type_id=None):
    body = {"from_type": "contacts", "from_id": contact_id, "to_type": "companies", "to_id": company_id}
    hs.call("POST", "/associations", {**body, **({"type_id": type_id} if type_id else {})})


@pytest.fixture
def linked(hs):
    """Two companies; a contact associated with the first (unlabeled) and the second (primary); one with none."""
    first, second = hs.seed(2, object_type="companies")
    contact = hs.create("contacts", {"lastname": "Linked"})["id"]
    alone = hs.create("contacts", {"lastname": "Alone"})["id"]
    associate(hs, contact, first)
    associate(hs, contact, second, PRIMARY)
    return {"contact": contact, "alone": alone, "first": first, "second": second}


def test_contacts_companies_come_from_associatedcompanyid_with_no_association_call(hs, provider, linked):
    calls = counted(provider)
    page = provider.changed_since(object=LEAD, cursor=Cursor.start())
    records = {record.id: record for record in page.records}
    assert records[linked["contact"]].fields["company_id"] == linked["second"]  # the primary, not the lowest id
    assert records[linked["alone"]].fields["company_id"] is None
    assert calls == []
    (record,) = provider.records(object=LEAD, record_ids=[linked["contact"]])
    assert record.fields["company_id"] == linked["second"]
    assert calls == []
    hs.seed(2, object_type="deals")
    assert provider.changed_since(object="deal", cursor=Cursor.start()).records
    assert sorted(calls) == [("deals", "companies"), ("deals", "contacts")]  # deals name no association


def test_a_new_primary_company_reaches_the_mirror_with_the_contacts_next_delta(hs, provider, linked):
    page = provider.changed_since(object=LEAD, cursor=Cursor.start())
    (third,) = hs.seed(1, object_type="companies")
    associate(hs, linked["contact"], third, PRIMARY)  # moves the contact's lastmodifieddate
    after = provider.changed_since(object=LEAD, cursor=page.cursor)
    assert [(record.id, record.fields["company_id"]) for record in after.records] == [(linked["contact"], third)]


def test_the_calls_option_reads_contacts_companies_with_the_associations_api(hs, hs_account, sleeps, linked):
    calling = provider_for(hs_account, sleep=sleeps, associations="calls")
    calls = counted(calling)
    records = {record.id: record for record in calling.changed_since(object=LEAD, cursor=Cursor.start()).records}
    assert records[linked["contact"]].fields["company_id"] == linked["second"]  # the primary among those listed
    assert records[linked["alone"]].fields["company_id"] is None
    assert calls == [("contacts", "companies")]


def test_an_unknown_associations_option_is_refused(hs_account, sleeps):
    with pytest.raises(ValueError, match="associations must be one of property, calls, none"):
        provider_for(hs_account, sleep=sleeps, associations="sometimes")
