"""A studio's message templates (welcome, help, follow-up) and how one is rendered for a contact."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.db.models import QuerySet

from automation.selectors import studio_automation_get
from core.exceptions import ApplicationError
from messaging.api.base import TenantApi
from messaging.api.serializers import ErrorSerializer
from messaging.models import Contact
from messaging.text import template_render
from studios.models import TEMPLATE_FIELDS, Membership, Studio

TEMPLATE_KEYS = ("welcome", "help", "follow_up")


def studio_templates(*, studio: Studio) -> dict[str, str]:
    """The studio's templates by key; the follow-up text lives with its automation settings."""
    return {
        "welcome": studio.welcome_message,
        "help": studio.help_message,
        "follow_up": studio_automation_get(studio=studio).follow_up_message,
    }


def merge_context(*, studio: Studio, contact: Contact | None, name: str, sender: Membership) -> dict[str, str]:
    """Merge fields for a text to a contact: their name, the studio, and the lead's owner (else the sender)."""
    full_name = (contact.name if contact else "") or name
    first, _, last = full_name.partition(" ")
    owner_name = ""
    if contact is not None and contact.crm_owner_id:
        owner = (
            Membership.objects.for_organization(studio.organization)
            .select_related("user")
            .filter(zoho_user_id=contact.crm_owner_id, is_active=True)
            .first()
        )
        owner_name = owner.user.full_name if owner else ""
    owner_name = owner_name or sender.user.full_name
    return {
        "first_name": first,
        "last_name": last,
        "full_name": full_name,
        "studio_name": studio.name,
        "owner_name": owner_name,
        "owner_first_name": owner_name.split(" ")[0] if owner_name else "",
    }


def template_body(
    *, studio: Studio, key: str, contact: Contact | None, name: str, sender: Membership, overrides: dict[str, str]
) -> str:
    """The text of one of the studio's templates filled in for a contact; refuses an empty template."""
    unknown = sorted(set(overrides) - TEMPLATE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown merge field(s): {', '.join(unknown)}.", extra={"field": "merge_fields", "code": "unknown_field"}
        )
    template = studio_templates(studio=studio)[key]
    if not template.strip():
        raise ApplicationError(
            f"{studio.name} has no {key.replace('_', '-')} template.", extra={"field": "template", "code": "empty"}
        )
    context = {**merge_context(studio=studio, contact=contact, name=name, sender=sender), **overrides}
    return template_render(template, context)


class TemplateListApi(TenantApi):
    """GET /templates/: the templates of the studios the member may send for."""

    class StudioTemplatesSerializer(serializers.Serializer):
        class StudioTemplateSerializer(serializers.Serializer):
            key = serializers.ChoiceField(choices=TEMPLATE_KEYS)
            text = serializers.CharField()

        studio_id = serializers.IntegerField()
        studio_name = serializers.CharField()
        templates = StudioTemplateSerializer(many=True)
        merge_fields = serializers.ListField(child=serializers.CharField())

    serializer_class = StudioTemplatesSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Studio]:
        return Studio.objects.visible_to(member).filter(is_active=True).select_related("organization").order_by("name")

    @extend_schema(
        parameters=[OpenApiParameter("studio_id", int, description="Only this studio.")],
        responses={200: StudioTemplatesSerializer(many=True), 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        studios = self.get_queryset()
        studio_id = request.query_params.get("studio_id")
        if studio_id:
            studios = studios.filter(pk=int(studio_id)) if studio_id.isdigit() else studios.none()
        rows = [
            {
                "studio_id": studio.pk,
                "studio_name": studio.name,
                "templates": [{"key": k, "text": v} for k, v in studio_templates(studio=studio).items()],
                "merge_fields": sorted(TEMPLATE_FIELDS),
            }
            for studio in studios
        ]
        return Response(self.get_serializer(rows, many=True).data)
