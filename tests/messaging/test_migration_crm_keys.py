"""messaging 0003/0004 on a database holding 0002's data: every contact and CRM write-back is kept; a contact's
crm_module becomes crm_object with canonical names, a linked contact gets its organization's Zoho CRM account
(made without credentials where there was none), an unlinked one none; a write-back gets the organization's account
when it has one. Back again restores the CRM's own names."""

from __future__ import annotations

import pytest

from tests.migrations import migrations  # noqa: F401  (the fixture)

BEFORE = ("messaging", "0002_sender_blocks_send_requests")
AFTER = ("messaging", "0004_crm_keys_data")
ZOHO_URLS = {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"}


@pytest.mark.django_db(transaction=True)
def test_every_contact_and_write_back_is_kept_with_canonical_names_and_a_connection(migrations):  # noqa: F811
    old = migrations.to(BEFORE)
    Organization = old.get_model("studios", "Organization")._default_manager
    ProviderAccount = old.get_model("studios", "ProviderAccount")._default_manager
    Contact = old.get_model("messaging", "Contact")._default_manager
    WriteBack = old.get_model("messaging", "CrmWriteBack")._default_manager
    acme = Organization.create(slug="acme", name="Acme")
    ProviderAccount.create(organization=acme, name="b-second", kind="zoho_crm", **ZOHO_URLS)
    acme_crm = ProviderAccount.create(organization=acme, name="a-first", kind="zoho_crm", **ZOHO_URLS)
    bare = Organization.create(slug="bare", name="Bare")
    quiet = Organization.create(slug="quiet", name="Quiet")
    lead = Contact.create(
        organization=acme, phone="+14155550001", crm_module="Leads", crm_record_id="41508680001", crm_owner_id="7"
    )
    person = Contact.create(organization=acme, phone="+14155550002", crm_module="Contacts", crm_record_id="41508680002")
    deal = Contact.create(organization=acme, phone="+14155550003", crm_module="Deals", crm_record_id="41508680003")
    custom = Contact.create(organization=acme, phone="+14155550004", crm_module="Gyms_X", crm_record_id="41508680004")
    unlinked = Contact.create(organization=acme, phone="+14155550005")
    bare_lead = Contact.create(organization=bare, phone="+14155550001", crm_module="Leads", crm_record_id="41508680009")
    quiet_unlinked = Contact.create(organization=quiet, phone="+14155550001")
    acme_write = WriteBack.create(
        organization=acme, contact=lead, phone=lead.phone, field="SMS_Opt_Out", value=True, status="pending"
    )
    quiet_write = WriteBack.create(
        organization=quiet, contact=quiet_unlinked, phone="+14155550001", field="SMS_Opt_Out", value=False
    )

    new = migrations.to(AFTER)
    contacts = new.get_model("messaging", "Contact")._default_manager
    made = new.get_model("studios", "ProviderAccount")._default_manager.get(organization=bare.pk, kind="zoho_crm")
    assert (made.name, made.is_default, made.refresh_token) == ("zoho-crm", True, "")
    assert {c.pk: (c.crm_object, c.crm_record_id, c.connection_id) for c in contacts.all()} == {
        lead.pk: ("lead", "41508680001", acme_crm.pk),  # no default: the first by name
        person.pk: ("contact", "41508680002", acme_crm.pk),
        deal.pk: ("deal", "41508680003", acme_crm.pk),
        custom.pk: ("Gyms_X", "41508680004", acme_crm.pk),  # not canonical: the CRM's own name
        unlinked.pk: ("", "", None),
        bare_lead.pk: ("lead", "41508680009", made.pk),
        quiet_unlinked.pk: ("", "", None),
    }
    assert contacts.get(pk=lead.pk).crm_owner_id == "7"
    write_backs = new.get_model("messaging", "CrmWriteBack")._default_manager
    assert {w.pk: (w.connection_id, w.value, w.status) for w in write_backs.all()} == {
        acme_write.pk: (acme_crm.pk, True, "pending"),
        quiet_write.pk: (None, False, "pending"),  # no CRM account: chosen when it is written
    }
    assert not new.get_model("studios", "ProviderAccount")._default_manager.filter(organization=quiet.pk).exists()

    back = migrations.to(BEFORE)
    restored = back.get_model("messaging", "Contact")._default_manager
    assert dict(restored.values_list("pk", "crm_module")) == {
        lead.pk: "Leads",
        person.pk: "Contacts",
        deal.pk: "Deals",
        custom.pk: "Gyms_X",
        unlinked.pk: "",
        bare_lead.pk: "Leads",
        quiet_unlinked.pk: "",
    }
