"""Zoho connections: the state of each Zoho account's OAuth link (the credentials live on ProviderAccount)."""

from __future__ import annotations

from django.db import models

from crm.connection_state import CrmConnection
from studios.models import Organization, ProviderAccount


class ZohoConnection(CrmConnection):
    """How a Zoho CRM or Zoho Voice account is connected: state, who authorised it, and what went wrong last
    (crm.connection_state holds the state and its changes); here the Zoho org and user, and the data centre."""

    crm_name = "Zoho"
    org_id_field = "zoho_org_id"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="zoho_connections")
    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, related_name="zoho_connection")
    location = models.CharField("data centre", max_length=16, blank=True, help_text="As Zoho reported it, e.g. us.")
    zoho_org_id = models.CharField("Zoho org id", max_length=32, blank=True)
    zoho_org_name = models.CharField("Zoho org name", max_length=200, blank=True)
    zoho_user_id = models.CharField("Zoho user id", max_length=32, blank=True)
    zoho_user_email = models.CharField("Zoho user", max_length=254, blank=True)
    zoho_user_name = models.CharField(max_length=200, blank=True)
    scopes = models.TextField(blank=True, help_text="Scopes Zoho granted, space-separated.")
    credit_limit = models.PositiveIntegerField(
        "API credits per 24 h",
        null=True,
        blank=True,
        help_text="The org's Zoho API-credit pool (it depends on the edition and users). Blank: the default.",
    )

    class Meta(CrmConnection.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["not_connected", "connected", "needs_reauth", "error"]),
                name="zoho_connection_state_valid",
            ),
            # One tenant per CRM org: sign-in and onboarding map Zoho users to the organization holding the org.
            # A connection holds it until disconnected (also while it waits to be reconnected), so the first
            # verified connection keeps it; oauth.py refuses a later claim with a message.
            models.UniqueConstraint(
                fields=["zoho_org_id"],
                condition=~models.Q(zoho_org_id="") & ~models.Q(state="not_connected"),
                name="zoho_connection_one_claim_per_zoho_org",
                violation_error_message="This Zoho org is already connected to another Leadline organization.",
            ),
        ]
