"""Zoho Voice's own table: where each number's SMS-log poll stands. A model of the messaging app (imported by
messaging/models.py through the provider registry), so its label and table are messaging's
(messaging_zohovoicepollcursor)."""

from __future__ import annotations

from django.db import models

from core.tenancy import TenantManager, TenantModel


class ZohoVoicePollCursor(TenantModel):
    """How far the SMS-log poll of one Zoho Voice number has read, so a poll asks only for what is new."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    phone_number = models.OneToOneField("studios.PhoneNumber", on_delete=models.CASCADE, related_name="+")
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="The newest log time seen; the next poll starts a window before it."
    )
    last_error = models.TextField(blank=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "Zoho Voice poll cursor"

    def __str__(self) -> str:
        return f"{self.phone_number} polled {self.last_polled_at}"
