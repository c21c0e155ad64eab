"""manage.py demo: load the demo organizations (idempotent) and print how to sign in."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from automation.models import AutomationSettings
from automation.services.settings import automation_webhook_token_set, automation_webhook_url
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_account as dynamics_connection_for_account
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.models import HubSpotConnection
from crm.providers.hubspot.services import connection_for_account as hubspot_connection_for_account
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import connection_for_account as salesforce_connection_for_account
from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.services import connection_for_account
from studios.models import Organization, ProviderAccount
from tenants.apply import tenants_apply
from tenants.demo import (
    DEMO_CRM_CONNECTION,
    DEMO_CRM_ORG_ID,
    DEMO_DV_APPLICATION_USER_ID,
    DEMO_DV_CONNECTION,
    DEMO_DV_MANAGER,
    DEMO_DV_ORG_NAME,
    DEMO_DV_ORGANIZATION,
    DEMO_DV_ORGANIZATION_ID,
    DEMO_DV_STAFF,
    DEMO_DV_TENANT_ID,
    DEMO_DV_WEBHOOK_KEY,
    DEMO_HS_APP_ID,
    DEMO_HS_CONNECTION,
    DEMO_HS_DOMAIN,
    DEMO_HS_MANAGER,
    DEMO_HS_ORG_NAME,
    DEMO_HS_ORGANIZATION,
    DEMO_HS_PORTAL_ID,
    DEMO_HS_STAFF,
    DEMO_LEAD_WEBHOOK_TOKEN,
    DEMO_PASSWORDS,
    DEMO_SF_CONNECTION,
    DEMO_SF_LEAD_WEBHOOK_TOKEN,
    DEMO_SF_MANAGER_EMAIL,
    DEMO_SF_MANAGER_ID,
    DEMO_SF_ORG_ID,
    DEMO_SF_ORG_NAME,
    DEMO_SF_ORGANIZATION,
    DEMO_SF_STAFF,
    OPERATOR_EMAIL,
    demo_document,
)
from tenants.schema import TenantsFileError


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization, pointing at the local sandbox, and print its sign-ins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load the demo even with DEBUG off. Its passwords are public: never on a real deployment.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("The demo's passwords are public; it loads only with DEBUG on (or --allow-production).")
        with transaction.atomic():
            try:
                document = demo_document(sandbox_url=settings.SANDBOX_URL, sandbox_tls_url=settings.SANDBOX_TLS_URL)
                report = tenants_apply(raw=document)
            except TenantsFileError as exc:
                raise CommandError("The demo could not be loaded:\n" + "\n".join(exc.errors)) from exc
            self.ensure_operator()
            organization = Organization.objects.unscoped().get(slug="demo")
            webhook_url = automation_webhook_token_set(organization=organization, token=DEMO_LEAD_WEBHOOK_TOKEN)
            # Signing in through the CRM admits people of the organization's connected CRM org: record the
            # sandbox's demo org as a real connect would (the sandbox is not running yet to be asked). The one
            # vendor step of the demo: the CRM layer has no call to record a known identity without asking.
            crm = ProviderAccount.objects.for_organization(organization).get(name=DEMO_CRM_CONNECTION)
            ZohoConnection.unscoped_objects.filter(pk=connection_for_account(account=crm).pk).update(
                zoho_org_id=DEMO_CRM_ORG_ID, zoho_org_name="Demo Fitness Co."
            )
            summit = Organization.objects.unscoped().get(slug=DEMO_SF_ORGANIZATION)
            salesforce = ProviderAccount.objects.for_organization(summit).get(name=DEMO_SF_CONNECTION)
            summit_webhook_url = automation_webhook_url(token=DEMO_SF_LEAD_WEBHOOK_TOKEN, organization=summit)
            SalesforceConnection.unscoped_objects.filter(
                pk=salesforce_connection_for_account(account=salesforce).pk
            ).update(
                state=SalesforceConnection.State.CONNECTED,
                sf_org_id=DEMO_SF_ORG_ID,
                org_name=DEMO_SF_ORG_NAME,
                user_id=DEMO_SF_MANAGER_ID,
                user_email=DEMO_SF_MANAGER_EMAIL,
                user_name="Riley Reyes",
            )
            self.record_hubspot_install()
            self.record_dynamics_consent()
        for line in report.lines():
            self.stdout.write(f"  {line}")
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(self.style.SUCCESS(f"\nDemo organization ready. Admin: {base}/admin/"))
        self.stdout.write(f"  operator (every organization): {OPERATOR_EMAIL} / {DEMO_PASSWORDS['operator']}")
        self.stdout.write(f"  manager (Demo Fitness Co.):    manager@demo.leadline.test / {DEMO_PASSWORDS['manager']}")
        self.stdout.write(f"  staff (Downtown):              ana@demo.leadline.test / {DEMO_PASSWORDS['staff']}")
        self.stdout.write(f"  staff (Uptown, Harbor Point):  ben@demo.leadline.test / {DEMO_PASSWORDS['staff']}")
        self.stdout.write(f"  Provider accounts point at the local sandbox: {settings.SANDBOX_URL}")
        self.stdout.write(f"  Text a studio as a lead, and watch the sandbox CRM: {settings.SANDBOX_URL}/")
        self.stdout.write(f"  New leads in the sandbox CRM reach the lead automation at {webhook_url}")
        self.stdout.write(self.style.SUCCESS(f"\n{DEMO_SF_ORG_NAME} ({DEMO_SF_ORGANIZATION}), on Salesforce:"))
        self.stdout.write(f"  manager:                       {DEMO_SF_MANAGER_EMAIL} / {DEMO_PASSWORDS['manager']}")
        for email, _name, studio, _user_id in DEMO_SF_STAFF:
            self.stdout.write(f"  staff ({studio}):{' ' * (22 - len(studio))}{email} / {DEMO_PASSWORDS['staff']}")
        self.stdout.write(f"  Its Salesforce org {DEMO_SF_ORG_ID} is in the sandbox: {settings.SANDBOX_URL}/")
        self.stdout.write(f"  New Salesforce leads (the org's Flow) reach the lead automation at {summit_webhook_url}")
        self.stdout.write(self.style.SUCCESS(f"\n{DEMO_HS_ORG_NAME} ({DEMO_HS_ORGANIZATION}), on HubSpot:"))
        self.stdout.write(f"  manager:                       {DEMO_HS_MANAGER[0]} / {DEMO_PASSWORDS['manager']}")
        for email, _name, studio, _owner_id in DEMO_HS_STAFF:
            self.stdout.write(f"  staff ({studio}):{' ' * (22 - len(studio))}{email} / {DEMO_PASSWORDS['staff']}")
        self.stdout.write(f"  Its HubSpot portal {DEMO_HS_PORTAL_ID} is in the sandbox: {settings.SANDBOX_URL}/")
        events = base + reverse("crm-app-events", args=["hubspot"])
        self.stdout.write(f"  New HubSpot contacts (the app's webhooks) reach the lead automation at {events}")
        self.stdout.write(self.style.SUCCESS(f"\n{DEMO_DV_ORG_NAME} ({DEMO_DV_ORGANIZATION}), on Dynamics 365:"))
        self.stdout.write(f"  manager:                       {DEMO_DV_MANAGER[0]} / {DEMO_PASSWORDS['manager']}")
        for email, _name, studio, _user_id in DEMO_DV_STAFF:
            self.stdout.write(f"  staff ({studio}):{' ' * (22 - len(studio))}{email} / {DEMO_PASSWORDS['staff']}")
        self.stdout.write(f"  Its environment harborfit is in the sandbox: {settings.SANDBOX_URL}/dynamics/harborfit")
        events = base + reverse("crm-app-events", args=["dynamics"])
        self.stdout.write(f"  New Dynamics 365 leads (the environment's webhook) reach the lead automation at {events}")

    def record_hubspot_install(self) -> None:
        """The sandbox's demo portal on Peak's connection, as connecting would record it (the sandbox is not
        running yet to be asked): its hub id is what the app's webhooks and sign-in name."""
        peak = Organization.objects.unscoped().get(slug=DEMO_HS_ORGANIZATION)
        hubspot = ProviderAccount.objects.for_organization(peak).get(name=DEMO_HS_CONNECTION)
        manager_email, _name, owner_id, user_id = DEMO_HS_MANAGER
        HubSpotConnection.unscoped_objects.filter(pk=hubspot_connection_for_account(account=hubspot).pk).update(
            state=HubSpotConnection.State.CONNECTED,
            hub_id=DEMO_HS_PORTAL_ID,
            hub_domain=DEMO_HS_DOMAIN,
            app_id=DEMO_HS_APP_ID,
            user_id=user_id,
            owner_id=owner_id,
            user_email=manager_email,
            scopes=" ".join(hubspot_settings.SCOPES.split()),
        )
        # HubSpot announces new contacts by the app's one webhook, not a per-organization token: the organization
        # needs only its automation switched on (its settings row; no row means off for app events).
        AutomationSettings.objects.unscoped().get_or_create(organization=peak)

    def record_dynamics_consent(self) -> None:
        """The sandbox's demo environment on Harbor's connection, as connecting would record it (the sandbox is not
        running yet to be asked): the tenant that consented, the organization id webhooks name, our application
        user (its changes are our own echo) and the webhook's key the environment's registration carries."""
        harbor = Organization.objects.unscoped().get(slug=DEMO_DV_ORGANIZATION)
        dynamics = ProviderAccount.objects.for_organization(harbor).get(name=DEMO_DV_CONNECTION)
        connection = dynamics_connection_for_account(account=dynamics)
        connection.state = DynamicsConnection.State.CONNECTED
        connection.tenant_id = DEMO_DV_TENANT_ID
        connection.org_id = DEMO_DV_ORGANIZATION_ID
        connection.organization_name = DEMO_DV_ORG_NAME
        connection.application_user_id = DEMO_DV_APPLICATION_USER_ID
        connection.webhook_secret = DEMO_DV_WEBHOOK_KEY
        connection.connected_at = connection.connected_at or timezone.now()
        connection.connected_by = connection.connected_by or OPERATOR_EMAIL
        connection.save()
        # Dynamics announces new leads by the environment's webhook, not a per-organization token: the organization
        # needs only its automation switched on (its settings row; no row means off for app events).
        AutomationSettings.objects.unscoped().get_or_create(organization=harbor)

    def ensure_operator(self) -> None:
        user_model = get_user_model()
        operator = user_model.objects.filter(email=OPERATOR_EMAIL).first()
        if operator is None:
            user_model.objects.create_superuser(
                email=OPERATOR_EMAIL, password=DEMO_PASSWORDS["operator"], full_name="Demo Operator"
            )
