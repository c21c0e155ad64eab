import pytest

from crm.provider import CrmProvider
from crm.records import Capability
from crm.registry import provider_class
from links.config import link_problems
from links.models import LinkField, LinkObject, SyncLink
from studios.models import ProviderAccount
from tests.links.firstsync_helpers import World

pytestmark = pytest.mark.django_db


def add_field(world, field_a, field_b, **options):
    return LinkField.objects.create(
        organization=world.organization, link_object=world.lead_contact, field_a=field_a, field_b=field_b, **options
    )


def test_a_valid_link_has_no_problems():
    assert link_problems(World().link) == []


def test_an_unknown_field_is_named_with_the_link_the_object_pair_and_the_side():
    world = World()
    add_field(world, "Phone", "lastnme")

    assert link_problems(world.link) == ["acme-sync: lead ⇄ contact: side B (HubSpot) has no field 'lastnme'"]


def test_a_read_only_target_is_refused_only_in_the_direction_that_writes_it():
    world = World()
    field = add_field(world, "Created_Time", "createdate", direction=LinkField.Direction.A_TO_B)

    [problem] = link_problems(world.link)
    assert "side B (HubSpot): field 'createdate' is read-only" in problem
    assert "A → B" in problem

    field.direction = LinkField.Direction.BOTH
    field.save()
    assert len(link_problems(world.link)) == 2


def test_no_mapping_writes_the_external_id_field():
    world = World()
    add_field(world, "Leadline_Id", "phone", direction=LinkField.Direction.B_TO_A)

    [problem] = link_problems(world.link)
    assert "side A (Zoho CRM): field 'Leadline_Id' is the external id field" in problem


def test_incompatible_types_are_refused():
    world = World()
    add_field(world, "Created_Time", "notes_count", direction=LinkField.Direction.A_TO_B)

    [problem] = link_problems(world.link)
    assert problem.startswith("acme-sync: lead ⇄ contact: Created_Time ⇄ notes_count (A → B): ")


def test_picklist_value_maps_must_name_values_the_fields_have():
    world = World()
    status = world.fields[2]
    status.values_a_to_b = {"Contacted": "CONECTED", "Qualified": "NEW"}
    status.save()

    problems = link_problems(world.link)

    assert len(problems) == 2
    assert "field 'hs_lead_status' has no value 'CONECTED'" in problems[0]
    assert "field 'Lead_Status' has no value 'Qualified'" in problems[1]


def test_external_id_fields_must_exist_be_unique_and_be_given_where_records_are_created():
    world = World()
    world.lead_contact.external_id_a = "Email"  # exists, not unique
    world.lead_contact.external_id_b = ""  # creates go to B
    world.lead_contact.save()

    problems = link_problems(world.link)

    assert any("side A (Zoho CRM): external id field 'Email' is not unique" in p for p in problems)
    assert any("side B (HubSpot): records are created on this side (create_b)" in p for p in problems)


def test_creates_need_upserts_by_external_id_and_mirrored_deletes_need_deletes():
    world = World()
    world.lead_contact.deletes = LinkObject.Deletes.MIRROR
    world.lead_contact.save()

    problems = link_problems(world.link)

    # What each CRM can do is its provider class's to say (its capabilities, whether it implements delete_record).
    for side, connection in (("A", world.zoho), ("B", world.hubspot)):
        cls = provider_class(connection.kind)
        label = f"side {side} ({cls.label})"
        upserts = Capability.UPSERT_BY_EXTERNAL_ID in cls.capabilities
        deletes = cls.delete_record is not CrmProvider.delete_record
        assert any(f"{label} cannot create records by external id" in p for p in problems) is not upserts
        assert any(f"{label} cannot delete records through its API" in p for p in problems) is not deletes
    world.lead_contact.create_a = world.lead_contact.create_b = False
    world.lead_contact.deletes = LinkObject.Deletes.IGNORE
    world.lead_contact.save()
    assert link_problems(world.link) == []


def test_archive_values_must_name_writable_fields_and_values():
    world = World()
    world.lead_contact.deletes = LinkObject.Deletes.ARCHIVE
    world.lead_contact.archive_a = {"Lead_Status": "Archived", "Created_Time": "x"}
    world.lead_contact.archive_b = {"hs_lead_status": "BAD", "nope": 1}
    world.lead_contact.save()

    problems = [p.split(": ", 2)[2] for p in link_problems(world.link)]

    assert (
        "side A (Zoho CRM): archive: field 'Lead_Status' has no value 'Archived' "
        "(its values: 'New', 'Contacted', 'Junk')" in problems
    )
    assert "side A (Zoho CRM): field 'Created_Time' is read-only; the archive values cannot set it" in problems
    assert "side B (HubSpot) has no field 'nope' (archive)" in problems


def test_an_unknown_object_is_named():
    world = World()
    LinkObject.objects.create(
        organization=world.organization, link=world.link, object_a="leed", object_b="contact", position=1
    )

    problems = link_problems(world.link)

    assert problems[0].startswith("acme-sync: leed ⇄ contact: side A (Zoho CRM) has no object 'leed'")


def test_both_sides_must_be_the_organizations_crm_connections():
    world = World("acme")
    other = World("bolt")
    twilio = ProviderAccount.objects.create(
        organization=world.organization, name="acme-twilio", kind="twilio", account_sid="AC1", auth_token="t"
    )
    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(connection_b=other.hubspot)
    world.link.refresh_from_db()

    assert link_problems(world.link) == ["acme-sync: side B is not one of the organization's CRM connections"]

    SyncLink.objects.unscoped().filter(pk=world.link.pk).update(connection_b=twilio)
    world.link.refresh_from_db()
    assert link_problems(world.link) == ["acme-sync: side B is not one of the organization's CRM connections"]
