"""A studio's message templates (welcome, help, follow-up) and how one is rendered for a contact.

A template field used without a fallback is required: when it is blank for the contact (no name on file, say),
the render lists it in `missing_fields` and a send is refused until the sender fills it in (`merge_fields`).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.db.models import QuerySet

from automation.selectors import studio_automation_get
from core import merge_fields
from core.api import ErrorSerializer, TenantApi, visible_or_404
from core.exceptions import ApplicationError
from messaging.models import Contact, Conversation
from messaging.selectors import crm_owner_membership
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
    owner = crm_owner_membership(contact=contact) if contact is not None else None
    owner_name = (owner.user.full_name if owner else "") or sender.user.full_name
    return {
        "first_name": first,
        "last_name": last,
        "full_name": full_name,
        "studio_name": studio.name,
        "owner_name": owner_name,
        "owner_first_name": owner_name.split(" ")[0] if owner_name else "",
    }


FIELD_LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "full_name": "full name",
    "studio_name": "studio name",
    "owner_name": "owner's name",
    "owner_first_name": "owner's first name",
}


def template_render_for(
    *, studio: Studio, key: str, contact: Contact | None, name: str, sender: Membership, overrides: dict[str, str]
) -> merge_fields.Rendered:
    """One of the studio's templates filled in for a contact, with the required fields that are still blank;
    refuses an unknown override, an empty template and one that is not valid."""
    unknown = sorted(set(overrides) - TEMPLATE_FIELDS)
    if unknown:
        raise ApplicationError(
            f"Unknown merge field(s): {', '.join(unknown)}.", extra={"field": "merge_fields", "code": "unknown_field"}
        )
    label = key.replace("_", "-")
    template = studio_templates(studio=studio)[key]
    if not template.strip():
        raise ApplicationError(f"{studio.name} has no {label} template.", extra={"field": "template", "code": "empty"})
    filled = {field: value for field, value in overrides.items() if value.strip()}
    context = {**merge_context(studio=studio, contact=contact, name=name, sender=sender), **filled}
    try:
        return merge_fields.render(template, context, allowed=TEMPLATE_FIELDS)
    except merge_fields.TemplateError as exc:
        # Saved templates are validated; one that got past that is refused here, never rendered.
        raise ApplicationError(
            f"The {label} template of {studio.name} is not valid: {exc} A manager must fix it.",
            extra={"field": "template", "code": "invalid"},
        ) from exc


def template_body(
    *, studio: Studio, key: str, contact: Contact | None, name: str, sender: Membership, overrides: dict[str, str]
) -> str:
    """The text to send; refuses while a required field is blank, naming the fields to fill in."""
    rendered = template_render_for(
        studio=studio, key=key, contact=contact, name=name, sender=sender, overrides=overrides
    )
    if rendered.missing:
        names = " and ".join(FIELD_LABELS.get(field, field) for field in rendered.missing)
        raise ApplicationError(
            f"Fill in the {names} before sending: {rendered.reason}.",
            extra={"field": "merge_fields", "code": "missing_fields", "missing_fields": list(rendered.missing)},
        )
    return rendered.text


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
            studios = studios.filter(pk=int(studio_id)) if studio_id.isdecimal() else studios.none()
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


class TemplateRenderApi(TenantApi):
    """POST /templates/render/: a template filled in for a conversation's contact (or a name), and the required
    fields that are blank, which the sender fills in (`merge_fields`) before the text can go. Writes nothing."""

    @extend_schema_serializer(component_name="TemplateRenderInput")  # another API's InputSerializer is "Input"
    class InputSerializer(serializers.Serializer):
        template = serializers.ChoiceField(choices=TEMPLATE_KEYS)
        studio_id = serializers.IntegerField(required=False, help_text="Default: the conversation's studio.")
        conversation_id = serializers.IntegerField(required=False, help_text="Fill in for this thread's contact.")
        contact_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
        merge_fields = serializers.DictField(
            child=serializers.CharField(allow_blank=True, max_length=200), required=False, default=dict
        )

    class OutputSerializer(serializers.Serializer):
        template = serializers.ChoiceField(choices=TEMPLATE_KEYS)
        studio_id = serializers.IntegerField()
        text = serializers.CharField(help_text="Missing fields stay as their {field} token.")
        missing_fields = serializers.ListField(
            child=serializers.CharField(), help_text="Required fields that are blank: fill them in to send."
        )

    serializer_class = OutputSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Studio]:
        return Studio.objects.visible_to(member).filter(is_active=True).select_related("organization")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,  # a studio or conversation the member cannot see
        },
    )
    def post(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        conversation = None
        if data.get("conversation_id") is not None:
            conversation = visible_or_404(
                Conversation.objects.visible_to(self.member).select_related("contact", "studio"),
                data["conversation_id"],
                field="conversation",
            )
        if data.get("studio_id") is not None:
            studio = visible_or_404(self.get_queryset(), data["studio_id"], field="studio")
        elif conversation is not None and conversation.studio is not None:
            studio = conversation.studio
        else:
            raise ApplicationError("Choose the studio whose template to use.", extra={"field": "studio_id"})
        rendered = template_render_for(
            studio=studio,
            key=data["template"],
            contact=conversation.contact if conversation else None,
            name=data["contact_name"],
            sender=self.member,
            overrides=data["merge_fields"],
        )
        output = {
            "template": data["template"],
            "studio_id": studio.pk,
            "text": rendered.text,
            "missing_fields": list(rendered.missing),
        }
        return Response(self.get_serializer(output).data)
