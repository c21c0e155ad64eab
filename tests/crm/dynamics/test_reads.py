"""The Dynamics provider's reads over the emulator's Web API: identity (WhoAmI), a row in canonical terms (lookups and
option sets with their names and labels, owner, E.164 phones, custom columns), many rows by id, every id across
pages, rows by phone however the number was typed, change tracking (a full read in pages, then delta links with
creates, updates, back-dated imports and deletes; an expired token) and record links."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from crm.errors import CrmAuthError, CrmHistoryExpired, CrmNotFound, CrmRejected
from crm.providers.dynamics.provider import DynamicsProvider
from crm.providers.dynamics.reads import FULL_PREFIX
from crm.registry import provider_for
from tests.crm.dynamics.conftest import sandbox_config
from tests.crm.harness_hubspot import control

LEAD = "lead"


def test_identity_is_the_application_user_in_the_environment(dv, provider):
    identity = provider.identity()
    assert identity.org_id == dv.organization_id
    assert identity.org_name == "Peak Performance Gyms"
    assert identity.user_id == dv.application_user_id
    assert identity.user_active


def test_a_row_in_canonical_terms(dv, provider):
    (account_id,) = dv.seed("account", 1)
    owner = dv.users[1]
    record_id = dv.create(
        LEAD,
        {
            "firstname": "Maya",
            "lastname": "Lopez",
            "emailaddress1": "maya@example.com",
            "telephone1": "(415) 555-0142",
            "mobilephone": "+44 20 7946 0958",
            "leadsourcecode": 8,
            "parentaccountid": account_id,
            "parentaccountid@table": "account",
            "ownerid": owner["systemuserid"],
            "ownerid@table": "systemuser",
            "lh_studio": "Downtown",
            "lh_smsoptout": False,
        },
    )
    record = provider.record(object=LEAD, record_id=record_id.upper())
    assert (record.object, record.id, record.name, record.email) == (LEAD, record_id, "Maya Lopez", "maya@example.com")
    assert record.modified_time.tzinfo is not None
    assert record.created_time is not None
    assert record.phones == {"telephone1": "+14155550142", "mobilephone": "+442079460958"}
    assert (record.owner_id, record.owner_name) == (owner["systemuserid"], owner["fullname"])
    account = dv.row("account", account_id)
    assert record.fields["parentaccountid"] == account_id
    assert record.fields["parentaccountid_name"] == account["name"]
    assert (record.fields["leadsourcecode"], record.fields["leadsourcecode_label"]) == ("8", "Web")
    assert (record.fields["statecode"], record.fields["statecode_label"]) == ("0", "Open")
    assert record.get("first_name") == "Maya"
    assert record.custom_fields["lh_studio"] == "Downtown"
    assert record.get("lh_smsoptout") is False
    assert record.raw["lastname"] == "Lopez"
    assert record.problems == ()


def test_missing_rows_and_ids_that_are_no_guids(dv, provider):
    (gone,) = dv.seed(LEAD, 1)
    dv.delete(LEAD, gone)
    with pytest.raises(CrmNotFound):
        provider.record(object=LEAD, record_id=gone)
    with pytest.raises(CrmNotFound):
        provider.record(object=LEAD, record_id="00Q5g00000abcdeEAA")  # another CRM's id: no call


def test_many_rows_by_id_across_queries(dv, provider):
    ids = dv.seed(LEAD, 60)
    gone = ids.pop(7)
    dv.delete(LEAD, gone)
    found = provider.records(object=LEAD, record_ids=[*ids, gone, ids[0], "not-a-guid"])
    assert sorted(record.id for record in found) == sorted(ids)


def test_every_id_across_pages(dv, dv_server, provider):
    ids = dv.seed(LEAD, 23)
    sandbox_config(dv_server, dv_max_page_size=5)
    assert sorted(provider.all_ids(object=LEAD)) == sorted(ids)


@pytest.mark.parametrize(
    "typed",
    ["(415) 555-0142", "+1 415-555-0142", "4155550142", "415.555.0142", "+14155550142", "1 (415) 555 0142"],
)
def test_phone_lookup_across_phone_columns_and_formats(dv, provider, typed):
    wanted = dv.create(LEAD, {"lastname": "Typed", "telephone1": typed})
    mobile = dv.create(LEAD, {"lastname": "Mobile", "mobilephone": typed, "telephone1": "+1 212-555-0199"})
    dv.create(LEAD, {"lastname": "Same tail", "telephone1": "(212) 555-0142"})
    found = provider.records_by_phone(object=LEAD, phone="+14155550142")
    assert sorted(record.id for record in found) == sorted([wanted, mobile])
    assert all("+14155550142" in record.phones.values() for record in found)


def test_phone_lookup_of_an_international_number_and_bad_input(dv, provider):
    wanted = dv.create(LEAD, {"lastname": "London", "telephone1": "+44 20 7946 0958"})
    assert [record.id for record in provider.records_by_phone(object=LEAD, phone="+442079460958")] == [wanted]
    assert provider.records_by_phone(object=LEAD, phone="+14155550100") == []
    with pytest.raises(ValueError, match=r"E\.164"):
        provider.records_by_phone(object=LEAD, phone="call me")


def read_tracked(provider, token="", page_size=5000, limit=50):
    pages = []
    for _ in range(limit):
        page = provider.tracked_changes(object=LEAD, token=token, page_size=page_size)
        pages.append(page)
        token = page.token
        if not page.has_more:
            return pages, token
    raise AssertionError("change tracking did not end")


def test_change_tracking_full_read_then_delta(dv, provider):
    ids = dv.seed(LEAD, 12)
    pages, delta = read_tracked(provider, page_size=5)
    assert len(pages) == 3
    assert all(page.full for page in pages)
    assert all(page.token.startswith(FULL_PREFIX) for page in pages[:-1])
    assert "$deltatoken" in delta
    assert sorted(record.id for page in pages for record in page.records) == sorted(ids)
    assert all(page.deleted == () for page in pages)

    dv.advance(1)
    created = dv.create(LEAD, {"lastname": "New", "telephone1": "(415) 555-0111"})
    dv.update(LEAD, ids[0], {"lastname": "Changed"})
    dv.delete(LEAD, ids[1])
    dv.backdate(LEAD, [ids[2]], dv.now() - timedelta(days=400))  # an import stamping an old modifiedon
    pages, next_delta = read_tracked(provider, token=delta)
    assert not any(page.full for page in pages)
    records = {record.id: record for page in pages for record in page.records}
    assert set(records) == {created, ids[0], ids[2]}
    assert records[ids[0]].raw["lastname"] == "Changed"
    assert records[created].phones == {"telephone1": "+14155550111"}
    assert [entry.id for page in pages for entry in page.deleted] == [ids[1]]
    assert next_delta != delta

    pages, _ = read_tracked(provider, token=next_delta)
    assert [record for page in pages for record in page.records] == []


def test_a_delta_in_pages_when_many_changed(dv, provider):
    ids = dv.seed(LEAD, 8)
    _, delta = read_tracked(provider)
    for record_id in ids:
        dv.update(LEAD, record_id, {"description": "bulk edit"})
    pages, _ = read_tracked(provider, token=delta, page_size=3)
    assert len(pages) == 3
    assert not pages[0].full
    assert not pages[0].token.startswith(FULL_PREFIX)
    assert sorted(record.id for page in pages for record in page.records) == sorted(ids)


def test_an_expired_delta_token_is_history_expired(dv, provider):
    dv.seed(LEAD, 2)
    _, delta = read_tracked(provider)
    dv.expire_change_tokens()
    with pytest.raises(CrmHistoryExpired):
        provider.tracked_changes(object=LEAD, token=delta)
    pages, _ = read_tracked(provider)  # a full read starts again
    assert pages[-1].full


def test_a_table_without_change_tracking(dv, provider):
    assert not provider.change_tracked(object="task")
    with pytest.raises(CrmRejected):
        provider.tracked_changes(object="task", token="")


def test_a_record_url_opens_the_row_in_the_environment(dv, provider):
    (lead_id,) = dv.seed(LEAD, 1)
    url = provider.record_url(object=LEAD, record_id=lead_id)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{dv.url}/main.aspx"
    assert parse_qs(parts.query) == {"etn": [LEAD], "id": [lead_id], "pagetype": ["entityrecord"]}
    assert provider.record_url(object="deal", record_id=lead_id).count("etn=opportunity") == 1
    assert provider.record_url(object=LEAD, record_id="not-a-guid") == ""


def test_identity_without_a_stored_organization_name_asks_the_environment(dv, dv_connection, provider):
    """The environment's organizations row names it (GET organizations(<id>)?$select=name)."""
    dv_connection.organization_name = ""
    dv_connection.save(update_fields=["organization_name"])
    dv.environment.organization_name = "Peak Performance Gyms HQ"  # renamed in Dynamics since the connect
    identity = provider.identity()
    assert identity.org_id == dv.organization_id
    assert identity.org_name == "Peak Performance Gyms HQ"


def test_identity_keeps_the_stored_organization_name_without_asking(dv, provider):
    dv.environment.organization_name = "Renamed in Dynamics"
    assert provider.identity().org_name == "Peak Performance Gyms"


def test_identity_without_a_readable_organization_row_has_no_name(dv, dv_connection, provider):
    """A name is a nicety: an organization row the app may not read leaves it empty, never a failure."""
    dv_connection.organization_name = ""
    dv_connection.save(update_fields=["organization_name"])
    rule = {"path": rf"^/dynamics/{dv.name}/api/data/v9\.2/organizations\(", "method": "GET", "status": 403}
    control(dv.server, "POST", "faults", {**rule, "times": 1})
    identity = provider.identity()
    assert (identity.org_id, identity.org_name) == (dv.organization_id, "")


def test_a_disconnected_account_is_refused_before_any_token(dv, dv_account, dv_connection, sleeps):
    dv_connection.state = dv_connection.State.NOT_CONNECTED
    dv_connection.save(update_fields=["state"])
    with pytest.raises(CrmAuthError) as caught:
        provider_for(dv_account, sleep=sleeps).identity()
    assert caught.value.code == "NOT_CONNECTED"
    assert not dv.dynamics.tokens  # Entra was never asked


def test_a_provider_in_use_is_refused_from_its_next_call_once_disconnected_elsewhere(dv, dv_connection, provider):
    """Another process disconnects the account while this one holds a working client and a live token."""
    from crm.providers.dynamics.models import DynamicsConnection

    (lead_id,) = dv.seed(LEAD, 1)
    assert provider.record(object=LEAD, record_id=lead_id).id == lead_id
    calls = provider.credits_used
    DynamicsConnection.unscoped_objects.filter(pk=dv_connection.pk).update(state=DynamicsConnection.State.NOT_CONNECTED)
    with pytest.raises(CrmAuthError) as caught:
        provider.record(object=LEAD, record_id=lead_id)
    assert caught.value.code == "NOT_CONNECTED"
    assert provider.credits_used == calls  # nothing reached the environment
    dv_connection.refresh_from_db()
    assert dv_connection.state == DynamicsConnection.State.NOT_CONNECTED  # refused, not marked needing re-auth


def test_a_disconnected_connections_token_is_refused_but_a_reconnect_gets_one(dv, dv_account, dv_connection):
    """Every token of the stored connection (reads, writes, sign-in's user lookup) stops at the disconnect; the
    connect flow names the consenting tenant itself, so connecting again works."""
    from crm.providers.dynamics import errors, tokens

    dv_connection.state = dv_connection.State.NOT_CONNECTED
    dv_connection.save(update_fields=["state"])
    for holder in (dv_connection, dv_account):
        with pytest.raises(errors.DataverseAuthError) as caught:
            tokens.token_for(holder)
        assert caught.value.code == "NOT_CONNECTED"
    assert not dv.dynamics.tokens
    assert tokens.token_for(dv_account, tenant_id=dv.tenant_id, environment=dv.url)
    assert len(dv.dynamics.tokens) == 1


def test_crm_user_ids_are_guids_in_lower_case():
    assert DynamicsProvider.crm_user_id_clean(" {5D1C3B2A-1F0E-4D9C-8B7A-6F5E4D3C2B1A} ") == (
        "5d1c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
    )
    assert DynamicsProvider.crm_user_id_clean("") == ""
    with pytest.raises(ValueError, match="systemuserid"):
        DynamicsProvider.crm_user_id_clean("0055g00000abcdeAAA")


def test_the_connection_names_its_opt_out_column(dv_account, dv_connection):
    assert DynamicsProvider.connection_opt_out_field(dv_account) == ""
    dv_connection.opt_out_column = "lh_smsoptout"
    dv_connection.save(update_fields=["opt_out_column"])
    dv_account.refresh_from_db()
    assert DynamicsProvider.connection_opt_out_field(dv_account) == "lh_smsoptout"
