"""Table metadata over the emulator's Web API: EntityDefinitions and Attributes typed as field specs (FormatName Phone
columns PHONE, option sets with their values, lookups with their target, the owner USER, lh_ custom columns),
ChangeTrackingEnabled read per table, kept five minutes, and names: canonical objects and Dataverse's own."""

from __future__ import annotations

import pytest

from django.core.cache import cache

from crm.errors import CrmNotFound
from crm.providers.dynamics.schema import options_by_column
from crm.records import FieldType
from crm.registry import provider_for


def test_lead_columns_are_typed(provider):
    spec = provider.object_spec(object="lead")
    assert (spec.name, spec.vendor_name, spec.name_field, spec.modified_time_field) == (
        "lead",
        "lead",
        "fullname",
        "modifiedon",
    )
    phones = [field.name for field in spec.phone_fields]
    assert "telephone1" in phones
    assert "mobilephone" in phones
    assert "emailaddress1" not in phones
    assert spec.field("emailaddress1").type == FieldType.EMAIL
    assert spec.field("lastname").type == FieldType.TEXT
    assert spec.field("leadsourcecode").type == FieldType.PICKLIST
    assert "8" in spec.field("leadsourcecode").choices  # Web
    assert spec.field("ownerid").type == FieldType.USER
    assert spec.field("parentaccountid").type == FieldType.LOOKUP
    assert spec.field("parentaccountid").lookup_target == "account"
    assert spec.field("modifiedon").read_only
    assert spec.field("lh_smsoptout").type == FieldType.BOOLEAN
    assert spec.field("lh_smsoptout").custom
    assert spec.field("lh_studio").custom
    assert not spec.field("lastname").custom
    assert "leadid" not in [field.name for field in spec.fields]  # the id, not a field


def test_deals_are_opportunities_and_custom_tables_are_accepted(provider):
    deal = provider.object_spec(object="deal")
    assert (deal.name, deal.vendor_name) == ("deal", "opportunity")
    assert deal.field("estimatedvalue").type == FieldType.CURRENCY
    assert deal.field("salesstage").type == FieldType.PICKLIST
    assert provider.object_spec(object="opportunity").name == "deal"
    sms = provider.object_spec(object="lh_sms")
    assert sms.vendor_name == "lh_sms"
    assert [spec.name for spec in provider.objects()] == ["lead", "contact", "account", "deal", "task"]


def test_unknown_objects(provider):
    with pytest.raises(ValueError, match="unknown object"):
        provider.object_spec(object="spaceship")
    with pytest.raises(CrmNotFound):
        provider.object_spec(object="lh_nosuchtable")


def test_change_tracking_per_table_from_metadata(dv, dv_account, provider, sleeps):
    assert provider.change_tracked(object="lead")
    assert provider.change_tracked(object="deal")
    assert not provider.change_tracked(object="task")
    dv.tracking("lead", False)
    assert provider_for(dv_account, sleep=sleeps).change_tracked(object="lead")  # kept five minutes
    cache.clear()
    assert not provider_for(dv_account, sleep=sleeps).change_tracked(object="lead")


def test_metadata_is_read_once(dv_account, provider, sleeps):
    provider.object_spec(object="lead")
    calls = provider.credits_used
    assert calls >= 2
    provider.object_spec(object="lead")
    again = provider_for(dv_account, sleep=sleeps)
    again.object_spec(object="lead")
    assert provider.credits_used == calls
    assert again.credits_used == 0


def test_option_sets_from_either_shape():
    client_shape = {"leadsourcecode": [{"value": 8, "label": "Web"}, {"value": "x", "label": "bad"}]}
    metadata_shape = [
        {
            "LogicalName": "leadsourcecode",
            "OptionSet": {"Options": [{"Value": 8, "Label": {"LocalizedLabels": [{"Label": "Web"}]}}]},
        }
    ]
    assert options_by_column(client_shape) == {"leadsourcecode": {8: "Web"}}
    assert options_by_column(metadata_shape) == {"leadsourcecode": {8: "Web"}}
