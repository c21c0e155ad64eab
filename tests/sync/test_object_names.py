"""Which objects a connection mirrors, whatever CRM it is: the default settings name every CRM's objects, and a
setting written with one CRM's names (Zoho's `Accounts`) means the same objects on another's connection."""

from __future__ import annotations

import pytest

from studios.models import ProviderAccount
from sync.objects import configured_objects, object_name
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory

pytestmark = pytest.mark.django_db


def _salesforce(organization) -> ProviderAccount:
    return ProviderAccount.objects.create(
        organization=organization,
        name="summit-salesforce",
        kind="salesforce",
        is_default=True,
        client_id="3MVG9.client",
        accounts_url="https://login.salesforce.com",
    )


def test_the_default_objects_are_the_same_for_zoho_and_salesforce():
    zoho = ZohoCrmAccountFactory(organization=OrganizationFactory())
    salesforce = _salesforce(OrganizationFactory())
    assert configured_objects(connection=zoho) == ["lead", "deal", "contact", "account"]
    assert configured_objects(connection=salesforce) == ["lead", "deal", "contact", "account"]


def test_a_setting_in_zohos_names_means_the_same_objects_on_salesforce(settings):
    settings.SYNC_MODULES = ["Leads", "Deals", "Contacts", "Accounts", "Opportunity", "Custom_Object__c"]
    salesforce = _salesforce(OrganizationFactory())
    assert configured_objects(connection=salesforce) == ["lead", "deal", "contact", "account", "Custom_Object__c"]


def test_a_connections_own_names_come_first():
    zoho = ZohoCrmAccountFactory(organization=OrganizationFactory())
    assert object_name("Deals", connection=zoho) == "deal"
    assert object_name("Opportunity", connection=zoho) == "deal"  # Salesforce's name, still the deal object
    assert object_name("Studio_Visits", connection=zoho) == "Studio_Visits"
