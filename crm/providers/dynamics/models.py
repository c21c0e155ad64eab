"""Dynamics 365 connections: one customer's Dataverse environment, reached with Leadline's multi-tenant Entra app
after an administrator of the customer's tenant granted it consent. ProviderAccount holds the login host
(accounts_url), the environment URL (api_domain) and, when the account has its own Entra app, its client id/secret;
there is no refresh token: tokens come from client credentials for the tenant (tokens.py).

The Dataverse organization id is `org_id` (a field called `organization_id` would be the Leadline organization's
foreign key column)."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from core import outbound
from core.secrets import EncryptedSecretField
from crm.connection_state import CrmConnection
from studios.models import Organization, ProviderAccount

# A table's or column's logical name: lower case, a publisher prefix for custom ones (lh_sms, new_smsoptout).
LOGICAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
WEBHOOK_SECRET_BYTES = 32


def validate_logical_name(value: str) -> None:
    """A logical name as Dataverse spells it; a display name ("SMS Opt Out") never matches a column."""
    if value and not LOGICAL_NAME.match(value):
        raise ValidationError(
            f"{value!r} is not a logical name: give the table's or column's logical name in lower case with its "
            "publisher prefix (e.g. lh_sms, lh_smsoptout), not its display name.",
            code="invalid",
        )


def environment_url_normalise(url: str) -> str:
    """An environment URL as stored: no trailing slash, the host in lower case (the token's audience is compared
    with it)."""
    url = (url or "").strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def webhook_secret_new() -> str:
    """A fresh value for the webhook's auth header (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)


class DynamicsConnection(CrmConnection):
    """How a Dynamics 365 account is connected: state, the customer's Entra tenant and Dataverse environment, our
    application user there (whose writes are our own echo), the webhook's secret, how texts appear on the timeline,
    the opt-out column, the environment's service-protection block as last seen, and what went wrong last
    (crm.connection_state holds the state and its changes)."""

    class TimelineActivity(models.TextChoices):
        TASK = "task", "Task (completed)"
        CUSTOM = "custom", "Custom SMS activity table"

    crm_name = "Microsoft Dynamics 365"
    org_id_field = "org_id"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="dynamics_connections")
    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, related_name="dynamics_connection")
    tenant_id = models.CharField(
        "Entra tenant id", max_length=36, blank=True, help_text="The customer's Microsoft Entra tenant (a GUID)."
    )
    environment_url = models.CharField(
        max_length=300, blank=True, help_text="The Dataverse environment connected (the account's API domain)."
    )
    org_id = models.CharField(
        "Dataverse organization id",
        max_length=36,
        blank=True,
        help_text="The environment's organization id (WhoAmI's OrganizationId; webhooks name it).",
    )
    organization_name = models.CharField("Dataverse organization name", max_length=200, blank=True)
    application_user_id = models.CharField(
        max_length=36,
        blank=True,
        help_text="Leadline's application user in the environment (WhoAmI's UserId): changes it makes are our own.",
    )
    webhook_secret = EncryptedSecretField(
        blank=True, help_text="The value of the webhook's auth header (x-leadline-webhook-key)."
    )
    timeline_activity = models.CharField(
        max_length=16,
        choices=TimelineActivity.choices,
        default=TimelineActivity.TASK,
        help_text="How each text appears on the record's timeline: a completed task, or a row of the custom SMS "
        "activity table below.",
    )
    custom_activity_table = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_logical_name],
        help_text="Logical name of the environment's custom SMS activity table (e.g. lh_sms), used when the "
        "timeline activity is the custom table.",
    )
    opt_out_column = models.CharField(
        max_length=100,
        blank=True,
        validators=[validate_logical_name],
        help_text="Logical name of the boolean column on leads and contacts that mirrors opt-outs (e.g. "
        "lh_smsoptout); empty: the organization's messaging settings decide.",
    )
    limit_blocked_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Dataverse's service protection refused requests; background work waits until then.",
    )

    class Meta(CrmConnection.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["not_connected", "connected", "needs_reauth", "error"]),
                name="dynamics_connection_state_valid",
            ),
            # One tenant per environment: webhooks name only the organization id, and sign-in maps system users to
            # the organization holding it. A connection holds it until disconnected; oauth.py refuses a later claim.
            models.UniqueConstraint(
                fields=["org_id"],
                condition=~models.Q(org_id="") & ~models.Q(state="not_connected"),
                name="dynamics_connection_one_claim_per_environment",
                violation_error_message="This Dynamics 365 environment is already connected to another Leadline "
                "organization.",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        self.environment_url = environment_url_normalise(self.environment_url)
        if self.environment_url and self.account_id:
            self._environment_on_account_host()
        if self.timeline_activity == self.TimelineActivity.CUSTOM and not self.custom_activity_table:
            raise ValidationError(
                {"custom_activity_table": "Name the custom SMS activity table, or log texts as tasks."}, code="required"
            )

    def _environment_on_account_host(self) -> None:
        """The environment must be on the account's API domain (whose host rules ProviderAccount applies); only an
        operator-set account's (an emulator's) may carry a path (the sandbox's /dynamics/<name>)."""
        parts = urlsplit(self.environment_url)
        origin = outbound.origin_of(f"{parts.scheme}://{parts.netloc}")
        api = self.account.api_domain or ""
        api_parts = urlsplit(api)
        if not origin or origin != outbound.origin_of(f"{api_parts.scheme}://{api_parts.netloc}"):
            raise ValidationError(
                {"environment_url": f"{self.environment_url} is not on the account's API domain ({api or 'none'})."},
                code="invalid",
            )
        if (parts.path or parts.query or parts.fragment) and not self.account.custom_endpoints:
            raise ValidationError(
                {"environment_url": "Give the environment's address only (https://<org>.crm.dynamics.com)."},
                code="invalid",
            )

    def activity_table(self) -> str:
        """The logical name of the table each text is logged in."""
        if self.timeline_activity == self.TimelineActivity.CUSTOM and self.custom_activity_table:
            return self.custom_activity_table
        return "task"
