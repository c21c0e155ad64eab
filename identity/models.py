"""Widget sessions: short-lived bearer tokens the widget uses, since a CRM's iframe gets no cookies of ours."""

from __future__ import annotations

from django.db import models

from core.models import TimeStampedModel
from core.tenancy import TenantManager, TenantModel, TenantQuerySet
from studios.models import Membership, Organization


class WidgetTokenQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(membership=member)  # staff see only their own sessions


class WidgetToken(TenantModel, TimeStampedModel):
    """One widget sign-in of a member. Only a SHA-256 digest of the token is kept; revoking a row ends it at once."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="widget_tokens")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="widget_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager.from_queryset(WidgetTokenQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]
        verbose_name = "widget session"

    def __str__(self) -> str:
        return f"{self.membership.user} until {self.expires_at:%Y-%m-%d %H:%M}"
