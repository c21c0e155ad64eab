"""Lead automation: per-organization and per-studio settings, one intake per new lead, one follow-up per keyword
reply, and the step log managers read ("what happened to this lead, and why").

Idempotency is in constraints: one LeadIntake per (organization, CRM connection, lead id) gives one task and one
welcome text however often the CRM delivers the webhook; one ReplyFollowUp per inbound message.

Intakes and replies name the CRM connection (a `studios.ProviderAccount` a CRM provider serves, crm/connections.py)
their record ids belong to, since an organization may connect two CRMs.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from core.secrets import EncryptedSecretField
from core.tenancy import TenantManager, TenantModel, TenantQuerySet
from studios.models import validate_template

DEFAULT_FOLLOW_UP_MESSAGE = (
    "Great, {first_name}! Someone from {studio_name} will call you shortly to book your first visit."
)


def token_digest(token: str) -> str:
    """What is stored and looked up: a SHA-256 of the URL token (the token itself is shown to managers only)."""
    return hashlib.sha256(token.encode()).hexdigest()


class AutomationSettings(TenantModel, TimeStampedModel):
    """An organization's lead automation: the webhook token the CRM's workflow rule calls with, and the rules."""

    organization = models.OneToOneField(
        "studios.Organization", on_delete=models.CASCADE, related_name="automation_settings"
    )
    is_enabled = models.BooleanField(default=True, help_text="Off: new-lead webhooks are recorded but not acted on.")
    webhook_token = EncryptedSecretField(blank=True, help_text="The secret in the webhook URL; rotate to revoke.")
    webhook_token_digest = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    lead_studio_field = models.CharField(
        max_length=100,
        blank=True,
        help_text="The CRM's API name of a lead field naming the studio (its name or slug); tried before "
        "the lead owner.",
    )
    reply_keyword = models.CharField(
        max_length=32, default="YES", help_text="A reply of exactly this word sends the follow-up text and a task."
    )
    reply_match_minutes = models.PositiveIntegerField(
        default=20, help_text="How long a reply from an unknown number keeps trying to find its lead in the CRM."
    )

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        verbose_name = "automation settings"
        verbose_name_plural = "automation settings"

    def __str__(self) -> str:
        return f"Automation of {self.organization}"


class StudioAutomationQuerySet(TenantQuerySet):
    organization_path = "studio__organization"


class StudioAutomation(TenantModel, TimeStampedModel):
    """A studio's follow-up text and task timing (its welcome text is on the studio)."""

    studio = models.OneToOneField("studios.Studio", on_delete=models.CASCADE, related_name="automation")
    follow_up_message = models.TextField(default=DEFAULT_FOLLOW_UP_MESSAGE, validators=[validate_template])
    task_due_days = models.PositiveSmallIntegerField(
        default=1, help_text="The follow-up task is due this many days after the lead arrives (studio's time zone)."
    )
    send_welcome = models.BooleanField(default=True)

    objects = TenantManager.from_queryset(StudioAutomationQuerySet)()

    class Meta(TenantModel.Meta):
        verbose_name = "studio automation"

    def __str__(self) -> str:
        return f"Automation of {self.studio}"


class StudioScopedQuerySet(TenantQuerySet):
    def staff_filter(self, queryset, member):
        return queryset.filter(studio__in=member.studios.values("pk"))


class LeadIntake(TenantModel, TimeStampedModel):
    """What automation did with one new lead: studio, task, welcome text; done, waiting, or needing a person."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        WAITING = "waiting", "Waiting for the CRM"  # lead not visible yet, or the CRM down: retried with backoff
        DONE = "done", "Done"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "The CRM's new-lead call"
        # The mirror's delta sync found a new lead the CRM never called about (crm.hooks): the intake waits one sync
        # interval (next_attempt_at) for the call, which starts it at once if it comes.
        MIRROR = "mirror", "Found by the CRM mirror"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The CRM connection the lead was created in.",
    )
    crm_record_id = models.CharField("CRM lead id", max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    source = models.CharField(
        max_length=16,
        choices=Source.choices,
        default=Source.WEBHOOK,
        help_text="What told us about the lead first: the CRM's call, or the mirror when that call never came.",
    )
    studio = models.ForeignKey("studios.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lead_name = models.CharField(max_length=200, blank=True)
    lead_phone = models.CharField(max_length=32, blank=True)
    crm_owner_id = models.CharField("CRM owner's user id", max_length=64, blank=True)
    owner_name = models.CharField(max_length=200, blank=True)
    crm_task_id = models.CharField("CRM task id", max_length=64, blank=True)
    welcome_message = models.OneToOneField(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sms_outcome = models.CharField(max_length=300, blank=True, help_text="Why no welcome text went out, if none did.")
    attention_reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager.from_queryset(StudioScopedQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "crm_record_id"], name="lead_intake_unique_lead"
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="waiting"), name="lead_intake_waiting"),
        ]

    def __str__(self) -> str:
        return f"Lead {self.lead_name or self.crm_record_id} ({self.get_status_display()})"


class ReplyFollowUp(TenantModel, TimeStampedModel):
    """A keyword reply (YES) from a lead: matched to the lead, answered with the follow-up text and a task."""

    class Status(models.TextChoices):
        PENDING = "pending", "Finding the lead"
        DONE = "done", "Done"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    studio = models.ForeignKey("studios.Studio", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    message = models.OneToOneField("messaging.Message", on_delete=models.PROTECT, related_name="reply_follow_up")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    connection = models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CRM connection the lead was looked up in; empty until then, or when the organization has none.",
    )
    crm_record_id = models.CharField("CRM lead id", max_length=64, blank=True)
    crm_task_id = models.CharField("CRM task id", max_length=64, blank=True)
    follow_up_message = models.OneToOneField(
        "messaging.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attention_reason = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TenantManager.from_queryset(StudioScopedQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="reply_follow_up_pending"),
        ]

    def __str__(self) -> str:
        return f"Reply {self.message.body[:20]!r} from {self.message.from_number} ({self.get_status_display()})"


class AutomationStep(TenantModel):
    """One line of the automation log: a step of a lead's intake or of a reply, its outcome and why."""

    class Outcome(models.TextChoices):
        OK = "ok", "Done"
        SKIPPED = "skipped", "Skipped"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Needs attention"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    studio = models.ForeignKey("studios.Studio", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lead_intake = models.ForeignKey(LeadIntake, on_delete=models.CASCADE, null=True, blank=True, related_name="steps")
    reply = models.ForeignKey(ReplyFollowUp, on_delete=models.CASCADE, null=True, blank=True, related_name="steps")
    step = models.CharField(max_length=40)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.OK)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(db_index=True)

    objects = TenantManager.from_queryset(StudioScopedQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.step}: {self.get_outcome_display()}"
