"""Two-way sync links in the tenants file: configured (never started) by `tenants apply`, checked against both CRMs'
field metadata where both connections are connected, written back by `tenants export`."""

import copy

import pytest

from django.utils import timezone

from crm.providers.hubspot.services import connection_for_account as hubspot_connection
from crm.providers.zoho.services import connection_for_account as zoho_connection
from links.metadata import object_spec_prime
from links.models import LinkField, LinkObject, SyncLink
from studios.models import Organization, ProviderAccount
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tenants.schema import TenantsFileError
from tests.links.firstsync_helpers import CONTACT_SPEC, LEAD_SPEC

pytestmark = pytest.mark.django_db


def accounts(slug: str) -> list[dict]:
    return [
        {
            "name": f"{slug}-zoho",
            "kind": "zoho_crm",
            "client_id": "1000.X",
            "client_secret": "s",
            "refresh_token": "r",
            "accounts_url": "https://accounts.zoho.eu",
            "api_domain": "https://www.zohoapis.eu",
        },
        {"name": f"{slug}-hubspot", "kind": "hubspot", "client_id": "hs", "client_secret": "s", "refresh_token": "r"},
    ]


def link_entry(slug: str = "acme") -> dict:
    return {
        "name": f"{slug}-sync",
        "a": f"{slug}-zoho",
        "b": f"{slug}-hubspot",
        "time_zone": "Europe/Madrid",
        "owners": [{"a": 4150868000000225013, "b": "83924710"}],
        "objects": [
            {
                "a": "lead",
                "b": "contact",
                "external_id": {"a": "Leadline_Id", "b": "leadline_id"},
                "match_by": ["email", "phone"],
                "deletes": "archive",
                "archive": {"a": {"Lead_Status": "Junk"}, "b": {"hs_lead_status": "BAD"}},
                "fields": [
                    {"a": "Last_Name", "b": "lastname"},
                    {"a": "Email", "b": "email", "clears": True, "conflict": "a_wins"},
                    {
                        "a": "Lead_Status",
                        "b": "hs_lead_status",
                        "direction": "a_to_b",
                        "values": {"a_to_b": {"Contacted": "CONNECTED"}},
                    },
                ],
            }
        ],
    }


def document(*links: dict, slug: str = "acme") -> dict:
    return {"organizations": [{"slug": slug, "name": "Acme", "accounts": accounts(slug), "links": list(links)}]}


def connect_both(slug: str = "acme") -> None:
    """Both connections connected, their specs in the cache (as the CRMs would give them)."""
    org = Organization.objects.unscoped().get(slug=slug)
    zoho = ProviderAccount.objects.for_organization(org).get(name=f"{slug}-zoho")
    hubspot = ProviderAccount.objects.for_organization(org).get(name=f"{slug}-hubspot")
    zoho_connection(account=zoho)
    hubspot_connection(account=hubspot)
    object_spec_prime(connection=zoho, object="lead", spec=LEAD_SPEC)
    object_spec_prime(connection=hubspot, object="contact", spec=CONTACT_SPEC)


def test_a_link_is_configured_with_its_objects_and_fields_and_stays_a_draft():
    report = tenants_apply(raw=document(link_entry()))

    link = SyncLink.objects.unscoped().get(name="acme-sync")
    assert link.state == SyncLink.State.DRAFT
    assert (link.connection_a.name, link.connection_b.name, link.time_zone) == (
        "acme-zoho",
        "acme-hubspot",
        "Europe/Madrid",
    )
    assert link.owners == [{"a": "4150868000000225013", "b": "83924710"}]
    [lead] = LinkObject.objects.unscoped().filter(link=link)
    assert (lead.external_id_a, lead.match_by, lead.deletes) == ("Leadline_Id", ["email", "phone"], "archive")
    assert lead.archive_b == {"hs_lead_status": "BAD"}
    fields = {f.field_a: f for f in LinkField.objects.unscoped().filter(link_object=lead)}
    assert fields["Email"].clears
    assert fields["Email"].conflict == "a_wins"
    assert fields["Lead_Status"].values_a_to_b == {"Contacted": "CONNECTED"}
    assert "links: 1 created, 0 updated, 0 unchanged" in report.lines()
    # Neither connection is connected: not an error, a note that the preview checks the fields later.
    assert any("fields not checked against the CRMs" in line and "links preview" in line for line in report.lines())


def test_applying_the_same_file_twice_changes_nothing():
    tenants_apply(raw=document(link_entry()))

    report = tenants_apply(raw=document(link_entry()))

    assert not report.changed
    assert "links: 0 created, 0 updated, 1 unchanged" in report.lines()


def test_objects_and_fields_left_out_of_the_file_are_removed_from_the_link():
    tenants_apply(raw=document(link_entry()))
    entry = link_entry()
    entry["objects"][0]["fields"] = entry["objects"][0]["fields"][:1]
    entry["objects"].append({"a": "account", "b": "company"})

    tenants_apply(raw=document(entry))

    link = SyncLink.objects.unscoped().get(name="acme-sync")
    objects = list(LinkObject.objects.unscoped().filter(link=link).order_by("position"))
    assert [(o.object_a, o.object_b, o.position) for o in objects] == [
        ("lead", "contact", 0),
        ("account", "company", 1),
    ]
    assert list(LinkField.objects.unscoped().filter(link_object=objects[0]).values_list("field_a", flat=True)) == [
        "Last_Name"
    ]
    entry["objects"] = entry["objects"][1:]
    tenants_apply(raw=document(entry))
    assert list(LinkObject.objects.unscoped().filter(link=link).values_list("object_a", flat=True)) == ["account"]


def test_applying_never_changes_a_links_state():
    tenants_apply(raw=document(link_entry()))
    SyncLink.objects.unscoped().update(state=SyncLink.State.RUNNING, started_at=timezone.now())
    entry = link_entry()
    entry["time_zone"] = "America/Chicago"

    tenants_apply(raw=document(entry))

    link = SyncLink.objects.unscoped().get(name="acme-sync")
    assert link.state == SyncLink.State.RUNNING
    assert link.time_zone == "America/Chicago"


def test_a_link_may_not_name_another_organizations_account():
    tenants_apply(raw={"organizations": [{"slug": "bolt", "name": "Bolt", "accounts": accounts("bolt")}]})
    entry = link_entry()
    entry["b"] = "bolt-hubspot"

    with pytest.raises(TenantsFileError) as raised:
        tenants_apply(raw=document(entry))

    assert raised.value.errors == [
        "organizations[0] (acme) > links[0] (acme-sync) > b: no account 'bolt-hubspot' in acme"
    ]
    assert not SyncLink.objects.unscoped().exists()


def test_a_link_needs_two_crm_accounts():
    entry = link_entry()
    entry["b"] = entry["a"]
    with pytest.raises(TenantsFileError, match="a and b name the same account"):
        tenants_apply(raw=document(entry))

    raw = document(link_entry())
    raw["organizations"][0]["accounts"].append(
        {"name": "acme-twilio", "kind": "twilio", "account_sid": "AC1", "auth_token": "t"}
    )
    raw["organizations"][0]["links"][0]["b"] = "acme-twilio"
    with pytest.raises(TenantsFileError, match=r"links\[0\] \(acme-sync\) > b: acme-twilio is a Twilio account"):
        tenants_apply(raw=raw)


def test_with_both_connections_connected_every_field_problem_is_reported_at_its_place_in_one_pass():
    tenants_apply(raw=document())
    connect_both()
    entry = link_entry()
    entry["objects"][0]["fields"][0]["b"] = "lastnme"
    entry["objects"][0]["fields"][2]["values"]["a_to_b"] = {"Contacted": "CONECTED"}
    entry["objects"][0]["archive"]["a"] = {"Created_Time": "x"}

    with pytest.raises(TenantsFileError) as raised:
        tenants_apply(raw=document(entry))

    where = "organizations[0] (acme) > links[0] (acme-sync) > objects[0] (lead ⇄ contact)"
    assert raised.value.errors == [
        f"{where}: side A (Zoho CRM): field 'Created_Time' is read-only; the archive values cannot set it",
        f"{where} > fields[0] (Last_Name ⇄ lastnme): side B (HubSpot) has no field 'lastnme'",
        f"{where} > fields[2] (Lead_Status ⇄ hs_lead_status): Lead_Status ⇄ hs_lead_status: values a_to_b: "
        "field 'hs_lead_status' has no value 'CONECTED' (its values: 'NEW', 'CONNECTED', 'BAD')",
    ]
    assert not SyncLink.objects.unscoped().exists()  # nothing applied


def test_with_both_connections_connected_a_valid_link_applies_without_notes():
    tenants_apply(raw=document())
    connect_both()

    report = tenants_apply(raw=document(link_entry()))

    assert not any(line.startswith("note:") for line in report.lines())
    assert SyncLink.objects.unscoped().filter(name="acme-sync").exists()


def test_export_writes_links_back_and_applies_unchanged():
    tenants_apply(raw=document(link_entry()))

    exported = tenants_export(organization_slugs=["acme"])

    [link] = exported["organizations"][0]["links"]
    assert link["name"] == "acme-sync"
    assert link["objects"][0]["fields"][2] == {
        "a": "Lead_Status",
        "b": "hs_lead_status",
        "direction": "a_to_b",
        "values": {"a_to_b": {"Contacted": "CONNECTED"}},
    }
    assert "state" not in link
    report = tenants_apply(raw=copy.deepcopy(exported))
    assert report.unchanged["links"] == 1
    assert not report.created["links"]
    assert not report.updated["links"]


def test_duplicate_links_objects_and_fields_are_refused():
    entry = link_entry()
    entry["objects"][0]["fields"].append({"a": "Phone", "b": "lastname"})
    with pytest.raises(TenantsFileError, match="side B field 'lastname' appears twice"):
        tenants_apply(raw=document(entry, link_entry()))
