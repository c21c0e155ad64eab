"""Salesforce connections: the state of each Salesforce account's OAuth link (credentials live on ProviderAccount:
client id/secret, the refresh token encrypted, the login host in accounts_url and the org's instance in api_domain)."""

from __future__ import annotations

from django.db import models

from crm.connection_state import CrmConnection
from studios.models import Organization, ProviderAccount


class SalesforceConnection(CrmConnection):
    """How a Salesforce account is connected: state, the org and user that authorised it, the org's API allocation
    as last seen, and what went wrong last (crm.connection_state holds the state and its changes)."""

    crm_name = "Salesforce"
    org_id_field = "sf_org_id"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="salesforce_connections")
    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, related_name="salesforce_connection")
    sf_org_id = models.CharField("Salesforce org id", max_length=18, blank=True, help_text="18 characters, 00D...")
    org_name = models.CharField("Salesforce org name", max_length=200, blank=True)
    user_id = models.CharField("Salesforce user id", max_length=18, blank=True)
    user_email = models.CharField("Salesforce user", max_length=254, blank=True)
    user_name = models.CharField(max_length=200, blank=True)
    identity_url = models.URLField(max_length=500, blank=True, help_text="The user's identity URL (/id/<org>/<user>).")
    scopes = models.TextField(blank=True, help_text="Scopes Salesforce granted, space-separated.")
    is_sandbox = models.BooleanField(default=False, help_text="A sandbox org (signed in on test.salesforce.com).")
    # The last Sforce-Limit-Info the org sent (api-usage=N/M): requests used in the rolling 24 h, and the allocation.
    api_usage = models.PositiveIntegerField("API requests used (24 h)", null=True, blank=True)
    api_limit = models.PositiveIntegerField("API requests allowed (24 h)", null=True, blank=True)
    api_usage_at = models.DateTimeField("API usage seen at", null=True, blank=True)
    limit_blocked_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The org refused a request for its daily allocation (REQUEST_LIMIT_EXCEEDED); background work "
        "waits until then.",
    )

    class Meta(CrmConnection.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["not_connected", "connected", "needs_reauth", "error"]),
                name="salesforce_connection_state_valid",
            ),
            # One tenant per Salesforce org: sign-in and onboarding map Salesforce users to the organization holding
            # the org. A connection holds it until disconnected (also while it waits to be reconnected), so the
            # first verified connection keeps it; oauth.py refuses a later claim with a message.
            models.UniqueConstraint(
                fields=["sf_org_id"],
                condition=~models.Q(sf_org_id="") & ~models.Q(state="not_connected"),
                name="salesforce_connection_one_claim_per_org",
                violation_error_message="This Salesforce org is already connected to another Leadline organization.",
            ),
        ]
