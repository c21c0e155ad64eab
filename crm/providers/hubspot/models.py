"""HubSpot connections: the state of each HubSpot account's OAuth link to one portal (a "hub"). Credentials live on
ProviderAccount: the app's client id/secret when the account has its own (else the server's app), the refresh token
encrypted, the consent host in accounts_url and the API host in api_domain."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

from crm.connection_state import CrmConnection
from studios.models import Organization, ProviderAccount

DEFAULT_LEAD_LIFECYCLE_STAGES = "subscriber,lead,marketingqualifiedlead,salesqualifiedlead"
STAGE_VALUE = re.compile(r"^[A-Za-z0-9_-]+$")  # a stage's internal value: a word, or a custom stage's number


def validate_lifecycle_stages(value: str) -> None:
    """Comma-separated internal values; a label ("Marketing Qualified Lead") never matches a contact's stage."""
    wrong = [stage.strip() for stage in value.split(",") if stage.strip() and not STAGE_VALUE.match(stage.strip())]
    if wrong:
        raise ValidationError(
            f"{wrong[0]!r} is not a lifecycle stage's internal value: give the values, not the labels "
            "(e.g. marketingqualifiedlead), separated by commas.",
            code="invalid",
        )


class HubSpotConnection(CrmConnection):
    """How a HubSpot account is connected: state, the portal and user that installed the app, which contacts count
    as leads, how texts appear on the timeline, the portal's API allowance as last seen, and what went wrong last
    (crm.connection_state holds the state and its changes)."""

    class TimelineActivity(models.TextChoices):
        COMMUNICATION = "communication", "Communication (SMS)"
        NOTE = "note", "Note"
        TASK = "task", "Task (completed)"

    crm_name = "HubSpot"
    org_id_field = "hub_id"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="hubspot_connections")
    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, related_name="hubspot_connection")
    hub_id = models.CharField("HubSpot portal id", max_length=20, blank=True, help_text="The hub id, digits.")
    hub_domain = models.CharField("HubSpot portal domain", max_length=253, blank=True)
    app_id = models.CharField("HubSpot app id", max_length=20, blank=True)
    user_id = models.CharField("HubSpot user id", max_length=20, blank=True, help_text="Who installed the app.")
    owner_id = models.CharField(
        "HubSpot owner id",
        max_length=20,
        blank=True,
        help_text="That user as an owner of records (hubspot_owner_id): the id members are known by.",
    )
    user_email = models.CharField("HubSpot user", max_length=254, blank=True)
    scopes = models.TextField(blank=True, help_text="Scopes HubSpot granted, space-separated.")
    lead_lifecycle_stages = models.CharField(
        max_length=500,
        blank=True,
        default=DEFAULT_LEAD_LIFECYCLE_STAGES,
        validators=[validate_lifecycle_stages],
        help_text="Lifecycle stages (internal values, comma-separated) of the contacts lead automation treats as "
        "new leads; a contact with no stage counts too. Empty: every new contact is a lead.",
    )
    timeline_activity = models.CharField(
        max_length=16,
        choices=TimelineActivity.choices,
        default=TimelineActivity.COMMUNICATION,
        help_text="How each text appears on the contact's timeline.",
    )
    # The portal's daily allowance as the last X-HubSpot-RateLimit-Daily(-Remaining) headers said.
    daily_limit = models.PositiveIntegerField("API requests allowed (day)", null=True, blank=True)
    daily_remaining = models.PositiveIntegerField("API requests left (day)", null=True, blank=True)
    rate_seen_at = models.DateTimeField("API allowance seen at", null=True, blank=True)
    limit_blocked_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="HubSpot refused a request for the portal's daily limit; background work waits until then.",
    )

    class Meta(CrmConnection.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["not_connected", "connected", "needs_reauth", "error"]),
                name="hubspot_connection_state_valid",
            ),
            # One tenant per HubSpot portal: the app's webhooks name only the portal, and sign-in maps HubSpot users
            # to the organization holding it. A connection holds it until disconnected (also while it waits to be
            # reconnected); oauth.py refuses a later claim with a message.
            models.UniqueConstraint(
                fields=["hub_id"],
                condition=~models.Q(hub_id="") & ~models.Q(state="not_connected"),
                name="hubspot_connection_one_claim_per_hub",
                violation_error_message="This HubSpot portal is already connected to another Leadline organization.",
            ),
        ]

    def lead_stages(self) -> tuple[str, ...]:
        """The lifecycle stages that make a contact a lead, as HubSpot's internal values (lower case)."""
        return tuple(stage.strip().lower() for stage in self.lead_lifecycle_stages.split(",") if stage.strip())
