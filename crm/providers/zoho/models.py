"""Zoho connections: the state of each Zoho account's OAuth link (the credentials live on ProviderAccount)."""

from __future__ import annotations

from django.db import models

from core.models import TimeStampedModel
from core.tenancy import TenantManager, TenantModel
from studios.models import Organization, ProviderAccount


class ZohoConnection(TenantModel, TimeStampedModel):
    """How a Zoho CRM or Zoho Voice account is connected: state, who authorised it, and what went wrong last."""

    class State(models.TextChoices):
        NOT_CONNECTED = "not_connected", "Not connected"
        CONNECTED = "connected", "Connected"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        ERROR = "error", "Error"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="zoho_connections")
    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, related_name="zoho_connection")
    state = models.CharField(max_length=16, choices=State.choices, default=State.NOT_CONNECTED)
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
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.CharField(max_length=254, blank=True, help_text="The Leadline user who connected it.")
    last_refreshed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        ordering = ["organization__name", "account__name"]
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

    def __str__(self) -> str:
        return f"{self.account.name}: {self.get_state_display()}"
