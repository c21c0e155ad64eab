"""Which CRM field mirrors opt-outs before an organization saves its messaging settings: the one its CRM's install
guide has customers create (Zoho's SMS_Opt_Out, Salesforce's SMS_Opt_Out__c); once saved, what was saved."""

from __future__ import annotations

import pytest

from messaging.models import MessagingSettings
from messaging.selectors import crm_opt_out_field_get
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory

pytestmark = pytest.mark.django_db


def _salesforce_account(organization) -> ProviderAccount:
    return ProviderAccount.objects.create(
        organization=organization,
        name="summit-salesforce",
        kind="salesforce",
        is_default=True,
        client_id="3MVG9.client",
        accounts_url="https://login.salesforce.com",
    )


def test_an_organization_on_salesforce_writes_the_salesforce_field_until_it_saves_another():
    organization = OrganizationFactory()
    _salesforce_account(organization)
    assert crm_opt_out_field_get(organization=organization) == "SMS_Opt_Out__c"

    MessagingSettings.objects.create(organization=organization, crm_opt_out_field="Do_Not_Text__c")
    assert crm_opt_out_field_get(organization=organization) == "Do_Not_Text__c"


def test_an_organization_on_zoho_writes_the_zoho_field():
    organization = OrganizationFactory()
    ZohoCrmAccountFactory(organization=organization)
    assert crm_opt_out_field_get(organization=organization) == "SMS_Opt_Out"


def test_an_organization_without_a_crm_gets_the_model_default_and_a_saved_blank_means_none():
    organization = OrganizationFactory()
    assert crm_opt_out_field_get(organization=organization) == "SMS_Opt_Out"
    MessagingSettings.objects.create(organization=organization, crm_opt_out_field="")
    assert crm_opt_out_field_get(organization=organization) == ""


def test_each_organization_reads_its_own_crm():
    on_salesforce, on_zoho = OrganizationFactory(), OrganizationFactory()
    _salesforce_account(on_salesforce)
    ZohoCrmAccountFactory(organization=on_zoho)
    MessagingSettings.objects.create(organization=on_zoho, crm_opt_out_field="Zoho_Field")
    assert crm_opt_out_field_get(organization=on_salesforce) == "SMS_Opt_Out__c"
    assert crm_opt_out_field_get(organization=on_zoho) == "Zoho_Field"
