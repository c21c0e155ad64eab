"""automation 0002-0004 on a database holding 0001's data: every intake and reply is kept, its Zoho ids under the
generic names, and each row naming a CRM record gets the organization's Zoho CRM account as its connection (made
without credentials where the organization had none); back again restores the old columns."""

from __future__ import annotations

import pytest

from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tests.migrations import migrations  # noqa: F401  (the fixture)

BEFORE = ("automation", "0001_initial")
AFTER = ("automation", "0004_crm_keys_required")
ZOHO_URLS = {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"}


def _reply(apps, organization, number: int, **ids):
    Contact = apps.get_model("messaging", "Contact")._default_manager
    Conversation = apps.get_model("messaging", "Conversation")._default_manager
    Message = apps.get_model("messaging", "Message")._default_manager
    phone = f"+1415555{number:04d}"
    contact = Contact.create(organization=organization, phone=phone)
    conversation = Conversation.create(organization=organization, contact=contact)
    message = Message.create(
        organization=organization,
        conversation=conversation,
        contact=contact,
        direction="inbound",
        body="YES",
        from_number=phone,
        to_number="+14155550000",
        status="received",
        kind="manual",
    )
    return apps.get_model("automation", "ReplyFollowUp")._default_manager.create(
        organization=organization, message=message, **ids
    )


def _with_latest_others(node):
    """`node` for automation, every other app at its latest: the historical models then match the tables (0001
    alone would give studios' and messaging's models of automation's own dependencies, older than the tables)."""
    leaves = MigrationLoader(connection, ignore_no_migrations=True).graph.leaf_nodes()
    return [node, *(leaf for leaf in leaves if leaf[0] != node[0])]


@pytest.mark.django_db(transaction=True)
def test_every_intake_and_reply_is_kept_on_its_organizations_crm_connection(migrations):  # noqa: F811
    old = migrations.to(*_with_latest_others(BEFORE))
    Organization = old.get_model("studios", "Organization")._default_manager
    ProviderAccount = old.get_model("studios", "ProviderAccount")._default_manager
    LeadIntake = old.get_model("automation", "LeadIntake")._default_manager
    with_default = Organization.create(slug="with-default", name="With default")
    ProviderAccount.create(organization=with_default, name="a-other", kind="zoho_crm", **ZOHO_URLS)
    default = ProviderAccount.create(organization=with_default, name="main", kind="zoho_crm", is_default=True)
    only_one = Organization.create(slug="only-one", name="Only one")
    only = ProviderAccount.create(organization=only_one, name="only", kind="zoho_crm", **ZOHO_URLS)
    without = Organization.create(slug="without", name="Without")
    ProviderAccount.create(organization=without, name="zoho-crm", kind="twilio", is_default=True)
    untouched = Organization.create(slug="untouched", name="Untouched")
    rows = {
        "a1": LeadIntake.create(
            organization=with_default,
            zoho_lead_id="4150868000000100001",
            owner_zoho_id="4150868000000225001",
            task_zoho_id="4150868000000300001",
            status="done",
            lead_name="Ann",
        ),
        "a2": LeadIntake.create(organization=with_default, zoho_lead_id="4150868000000100002", status="waiting"),
        "o1": LeadIntake.create(organization=only_one, zoho_lead_id="4150868000000100001"),
        "w1": LeadIntake.create(organization=without, zoho_lead_id="4150868000000100003", task_zoho_id="99"),
    }
    matched = _reply(old, with_default, 1, zoho_lead_id="4150868000000100001", task_zoho_id="4150868000000300002")
    unmatched = _reply(old, untouched, 2)
    task_only = _reply(old, without, 3, task_zoho_id="4150868000000300003")

    new = migrations.to(*_with_latest_others(AFTER))
    intakes = new.get_model("automation", "LeadIntake")._default_manager
    assert intakes.count() == 4
    got = {row.pk: (row.connection_id, row.crm_record_id, row.crm_owner_id, row.crm_task_id) for row in intakes.all()}
    created = new.get_model("studios", "ProviderAccount")._default_manager.get(organization=without.pk, kind="zoho_crm")
    assert (created.name, created.is_default, created.client_id) == ("zoho-crm-2", True, "")
    assert got == {
        rows["a1"].pk: (default.pk, "4150868000000100001", "4150868000000225001", "4150868000000300001"),
        rows["a2"].pk: (default.pk, "4150868000000100002", "", ""),
        rows["o1"].pk: (only.pk, "4150868000000100001", "", ""),
        rows["w1"].pk: (created.pk, "4150868000000100003", "", "99"),
    }
    assert intakes.get(pk=rows["a1"].pk).lead_name == "Ann"
    replies = new.get_model("automation", "ReplyFollowUp")._default_manager
    assert {row.pk: (row.connection_id, row.crm_record_id, row.crm_task_id) for row in replies.all()} == {
        matched.pk: (default.pk, "4150868000000100001", "4150868000000300002"),
        unmatched.pk: (None, "", ""),
        task_only.pk: (created.pk, "", "4150868000000300003"),
    }
    assert not new.get_model("studios", "ProviderAccount")._default_manager.filter(organization=untouched.pk).exists()

    back = migrations.to(*_with_latest_others(BEFORE))
    old_intakes = back.get_model("automation", "LeadIntake")._default_manager
    assert dict(old_intakes.values_list("pk", "zoho_lead_id")) == {
        rows["a1"].pk: "4150868000000100001",
        rows["a2"].pk: "4150868000000100002",
        rows["o1"].pk: "4150868000000100001",
        rows["w1"].pk: "4150868000000100003",
    }
    assert old_intakes.get(pk=rows["a1"].pk).task_zoho_id == "4150868000000300001"
    assert back.get_model("automation", "ReplyFollowUp")._default_manager.get(pk=matched.pk).zoho_lead_id == (
        "4150868000000100001"
    )
