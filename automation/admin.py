"""The managers' admin of lead automation: settings (with the webhook URL to paste into the CRM), each studio's
follow-up, every lead's intake with its step log, keyword replies, and one "needs attention" page listing what
automation could not finish. Scoped like every admin page (core.admin): a manager sees their organization."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from automation.models import AutomationSettings, AutomationStep, LeadIntake, ReplyFollowUp, StudioAutomation
from automation.services.settings import automation_webhook_token_rotate, automation_webhook_url
from core.admin import ReadOnlyAdminMixin, TenantModelAdmin, TenantTabularInline
from core.admin_site import is_operator, request_manager
from core.models import InboundEvent
from messaging.models import Conversation


class StepInline(ReadOnlyAdminMixin, TenantTabularInline):
    model = AutomationStep
    fields = ["at", "step", "outcome", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    tenant_field = "organization"


@admin.register(AutomationSettings)
class AutomationSettingsAdmin(TenantModelAdmin):
    list_display = ["organization", "is_enabled", "reply_keyword", "lead_studio_field", "webhook"]
    fields = ["organization", "is_enabled", "webhook", "lead_studio_field", "reply_keyword", "reply_match_minutes"]
    readonly_fields = ["webhook"]
    actions = ["rotate_token"]

    @admin.display(description="Webhook URL for the CRM's workflow rule on new leads (keep it secret)")
    def webhook(self, obj: AutomationSettings) -> str:
        if not obj.pk or not obj.webhook_token:
            return "Saved settings get a URL."
        return automation_webhook_url(token=obj.webhook_token.reveal(), organization=obj.organization)

    def save_model(self, request: HttpRequest, obj: AutomationSettings, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not obj.webhook_token:
            automation_webhook_token_rotate(organization=obj.organization)

    @admin.action(description="Issue a new webhook URL (the old one stops working)")
    def rotate_token(self, request: HttpRequest, queryset) -> None:
        for row in queryset:
            url = automation_webhook_token_rotate(organization=row.organization)
            self.message_user(request, f"{row.organization}: new webhook URL {url}", messages.SUCCESS)


@admin.register(StudioAutomation)
class StudioAutomationAdmin(TenantModelAdmin):
    tenant_field = None
    list_display = ["studio", "send_welcome", "task_due_days", "follow_up_message"]
    fields = ["studio", "send_welcome", "task_due_days", "follow_up_message"]


class IntakeAdminBase(ReadOnlyAdminMixin, TenantModelAdmin):
    """Leads and replies: records with their step log, and "try again" once a person fixed the cause."""

    inlines = [StepInline]
    actions = ["try_again"]
    retry_status: str  # the status that puts an item back in the queue

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only fields, but the "try again" action needs change permission.
        return self._may_manage(request, obj)

    def enqueue(self, pk: int) -> None:
        raise NotImplementedError

    @admin.action(description="Try again now")
    def try_again(self, request: HttpRequest, queryset) -> None:
        count = 0
        for item in queryset.exclude(status="done"):
            self.model.objects.unscoped().filter(pk=item.pk).update(
                status=self.retry_status, next_attempt_at=timezone.now(), attempts=0, lease_until=None
            )
            self.enqueue(item.pk)
            count += 1
        self.message_user(request, f"{count} will be tried again.", messages.SUCCESS)


@admin.register(LeadIntake)
class LeadIntakeAdmin(IntakeAdminBase):
    list_display = [
        "created_at",
        "lead_name",
        "status",
        "source",
        "studio",
        "crm_task_id",
        "welcome",
        "attention_reason",
    ]
    list_filter = ["status", "source", "studio"]
    search_fields = ["lead_name", "lead_phone", "crm_record_id"]
    readonly_fields = [
        "organization",
        "connection",
        "crm_record_id",
        "status",
        "source",
        "studio",
        "lead_name",
        "lead_phone",
        "owner_name",
        "crm_owner_id",
        "crm_task_id",
        "welcome_message",
        "sms_outcome",
        "attention_reason",
        "attempts",
        "next_attempt_at",
        "completed_at",
    ]
    fields = readonly_fields

    @admin.display(description="Welcome text")
    def welcome(self, obj: LeadIntake) -> str:
        if obj.welcome_message_id:
            return obj.welcome_message.get_status_display()
        return obj.sms_outcome or "—"

    retry_status = LeadIntake.Status.WAITING

    def enqueue(self, pk: int) -> None:
        from automation.services.intake import lead_intake_enqueue

        lead_intake_enqueue(pk)

    def get_urls(self):
        view = self.admin_site.admin_view(self.attention_view)
        return [path("attention/", view, name="automation_attention"), *super().get_urls()]

    def attention_view(self, request: HttpRequest):
        """Everything automation could not finish, for the manager's organization (operators: every one)."""
        scope = (
            (lambda qs: qs.unscoped()) if is_operator(request) else (lambda qs: qs.visible_to(request_manager(request)))
        )
        events = InboundEvent.objects.filter(status=InboundEvent.Status.FLAGGED)
        if not is_operator(request):
            manager = request_manager(request)
            events = events.filter(organization_id=manager.organization_id) if manager else events.none()
        context = {
            **self.admin_site.each_context(request),
            "title": "Needs attention",
            "intakes": scope(LeadIntake.objects.all()).filter(status=LeadIntake.Status.NEEDS_ATTENTION)[:200],
            "replies": scope(ReplyFollowUp.objects.all())
            .filter(status=ReplyFollowUp.Status.NEEDS_ATTENTION)
            .select_related("message")[:200],
            "conversations": scope(Conversation.objects.all())
            .filter(needs_attention=True)
            .select_related("contact", "studio")[:200],
            "events": events[:200],
        }
        return TemplateResponse(request, "admin/automation/attention.html", context)


@admin.register(ReplyFollowUp)
class ReplyFollowUpAdmin(IntakeAdminBase):
    list_display = ["created_at", "phone", "body", "status", "studio", "crm_record_id", "attention_reason"]
    list_filter = ["status", "studio"]
    search_fields = ["message__from_number", "crm_record_id"]
    readonly_fields = [
        "organization",
        "studio",
        "message",
        "status",
        "connection",
        "crm_record_id",
        "crm_task_id",
        "follow_up_message",
        "attention_reason",
        "attempts",
        "next_attempt_at",
    ]
    fields = readonly_fields

    @admin.display(description="From")
    def phone(self, obj: ReplyFollowUp) -> str:
        return obj.message.from_number

    @admin.display(description="Reply")
    def body(self, obj: ReplyFollowUp) -> str:
        return obj.message.body[:40]

    retry_status = ReplyFollowUp.Status.PENDING

    def enqueue(self, pk: int) -> None:
        from automation.services.replies import reply_enqueue

        reply_enqueue(pk)
