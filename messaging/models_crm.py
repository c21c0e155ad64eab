"""What texts tell the CRM: the write-backs opt-out changes wait in until the CRM provider writes them, the
entries that log texts on the CRM records' timelines, and the organization's settings for both. Re-exported by
messaging/models.py (where the app's models are looked for); foreign keys name that module's models by label, so
this one does not import it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core import merge_fields
from core.models import TimeStampedModel
from core.tenancy import TenantManager, TenantModel
from messaging.phones import SenderPhoneField


class CrmWriteBack(TenantModel, TimeStampedModel):
    """A change the CRM must learn (an opt-out flag on the lead/contact), queued until the CRM provider writes it.
    One pending row per (organization, phone, field): a newer change replaces the value instead of piling up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Written"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (no CRM record)"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CRM connection to write to; empty: the organization's CRM connection when it is written.",
    )
    contact = models.ForeignKey("messaging.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    phone = SenderPhoneField()
    field = models.CharField(max_length=100, help_text="The CRM field's API name, e.g. SMS_Opt_Out.")
    value = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "CRM write-back"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "phone", "field"],
                condition=Q(status="pending"),
                name="crm_write_back_one_pending_per_field",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field}={self.value} for {self.phone} ({self.status})"


class CrmTimelineEntry(TenantModel, TimeStampedModel):
    """A text to show on its contact's CRM record as a completed activity (how each CRM shows one: docs/messaging.md).
    One row per message (the unique message): saved with an inbound text, and when an
    outbound one was sent, if the organization logs texts on the timeline; automation's flush logs pending rows in
    batches and records what became of each."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Logged"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    message = models.OneToOneField("messaging.Message", on_delete=models.CASCADE, related_name="crm_timeline_entry")
    connection = models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CRM connection it was logged through (chosen when it is logged).",
    )
    crm_object = models.CharField("CRM object", max_length=64, blank=True, help_text="lead or contact.")
    crm_record_id = models.CharField("CRM record id", max_length=64, blank=True)
    crm_activity_id = models.CharField("CRM activity id", max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not tried again before this (the CRM's allowance, a reconnection)."
    )
    last_error = models.TextField(blank=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "CRM timeline entry"
        verbose_name_plural = "CRM timeline entries"
        ordering = ["-created_at"]
        indexes = [
            # The flush: pending rows, due first.
            models.Index(
                fields=["next_attempt_at", "created_at"], condition=Q(status="pending"), name="crm_timeline_due"
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.message_id} on the CRM timeline ({self.status})"


# Subject templates of timeline entries: the merge fields they may use.
CRM_TIMELINE_SUBJECT_FIELDS = frozenset({"phone", "contact_name", "studio_name", "our_number"})


class MessagingSettings(TenantModel, TimeStampedModel):
    """An organization's messaging policy: where opt-outs are written in the CRM, and how texts are logged on the
    CRM records' timelines."""

    organization = models.OneToOneField(
        "studios.Organization", on_delete=models.CASCADE, related_name="messaging_settings"
    )
    crm_opt_out_field = models.CharField(
        "CRM opt-out field",
        max_length=100,
        default="SMS_Opt_Out",
        blank=True,
        help_text=(
            "API name of the boolean field on leads and contacts that mirrors opt-outs (the one the CRM's setup"
            " guide creates); empty: none."
        ),
    )
    crm_timeline_enabled = models.BooleanField(
        "log texts on the CRM timeline",
        default=True,
        help_text="Every text sent and received is logged on the lead or contact in the CRM as a completed activity.",
    )
    crm_timeline_subject_sent = models.CharField(
        "subject of a text sent",
        max_length=255,
        default="SMS to {phone}",
        blank=True,
        help_text="Merge fields: {phone}, {contact_name}, {studio_name}, {our_number}; with a fallback: "
        '{contact_name|a lead}. Empty: "SMS to {phone}".',
    )
    crm_timeline_subject_received = models.CharField(
        "subject of a text received",
        max_length=255,
        default="SMS from {phone}",
        blank=True,
        help_text='The same merge fields. Empty: "SMS from {phone}".',
    )
    crm_timeline_activity_type = models.CharField(
        "activity type",
        max_length=100,
        blank=True,
        help_text="The CRM's type of activity (e.g. a value of its task type picklist, \"SMS\"); empty: the CRM's "
        "default.",
    )

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "messaging settings"
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return f"Messaging settings of {self.organization}"

    def clean(self) -> None:
        errors = {}
        for name in ("crm_timeline_subject_sent", "crm_timeline_subject_received"):
            try:
                merge_fields.validate(getattr(self, name), allowed=CRM_TIMELINE_SUBJECT_FIELDS)
            except merge_fields.TemplateError as exc:
                errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)
