"""A contact's opt-out state, as the member who texts them needs it (staff cannot read the ledger itself)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.db.models import QuerySet

from core.api import ErrorSerializer, TenantApi
from messaging.models import Contact, OptOutSource, OptOutState
from messaging.selectors import opt_out_get, sender_blocks_of
from studios.models import Membership


class BlockedSenderSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="Our number the contact texted STOP to.")
    blocked_at = serializers.DateTimeField()


class ContactOptOutApi(TenantApi):
    """GET /contacts/<id>/opt-out/: whether the organization may text this contact, and since when."""

    class OptOutStateSerializer(serializers.Serializer):
        contact_id = serializers.IntegerField()
        phone = serializers.CharField()
        opted_out = serializers.BooleanField()
        state = serializers.ChoiceField(choices=OptOutState.choices, allow_null=True)
        source = serializers.ChoiceField(choices=OptOutSource.choices, allow_null=True)
        changed_at = serializers.DateTimeField(allow_null=True)
        blocked_senders = BlockedSenderSerializer(
            many=True,
            help_text=(
                "Our numbers the contact texted STOP to and not START since: the provider refuses texts from them "
                "even when the contact is opted in (they texted START to another number)."
            ),
        )

    serializer_class = OptOutStateSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Contact]:
        return Contact.objects.visible_to(member).select_related("organization")

    @extend_schema(responses={200: OptOutStateSerializer, **{code: ErrorSerializer for code in (401, 403, 404)}})
    def get(self, request: Request, pk: int) -> Response:
        contact = self.get_object()
        # The contact is visible, so its organization's ledger row for its phone is this member's business.
        row = opt_out_get(organization=contact.organization, phone=contact.phone)
        data = {
            "contact_id": contact.pk,
            "phone": contact.phone,
            "opted_out": bool(row and row.is_opted_out),
            "state": row.state if row else None,
            "source": row.source if row else None,
            "changed_at": row.changed_at if row else None,
            "blocked_senders": [
                {"number": block.sender, "blocked_at": block.created_at}
                for block in sender_blocks_of(organization=contact.organization, phone=contact.phone)
            ],
        }
        return Response(self.get_serializer(data).data)
