"""Who is signed in, for the widget: the user, their role and organization, and the studios and numbers they may
send from (the composer's studio/number picker). A 401 here is how the widget knows to offer "Sign in"."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.db.models import QuerySet

from core.api import ErrorSerializer, TenantApi
from studios.models import Membership, PhoneNumber, Studio


def number_serves(number: PhoneNumber, studio: Studio) -> bool:
    """`PhoneNumber.objects.serving(studio)` for a number already loaded with its `shared_with`."""
    if number.studio_id is not None:
        return number.studio_id == studio.pk
    shared_with = {s.pk for s in number.shared_with.all()}
    return not shared_with or studio.pk in shared_with


class MeApi(TenantApi):
    """GET /me/: the signed-in member and the studios/numbers they may text from."""

    class MeSerializer(serializers.Serializer):
        class UserSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            email = serializers.EmailField()

        class OrganizationSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()

        class SendingStudioSerializer(serializers.Serializer):
            class NumberSerializer(serializers.Serializer):
                id = serializers.IntegerField()
                number = serializers.CharField()
                label = serializers.CharField(allow_blank=True)
                provider = serializers.CharField()
                shared = serializers.BooleanField()

            id = serializers.IntegerField()
            name = serializers.CharField()
            numbers = NumberSerializer(many=True)

        user = UserSerializer()
        role = serializers.ChoiceField(choices=Membership.Role.choices)
        is_manager = serializers.BooleanField()
        organization = OrganizationSerializer()
        studios = SendingStudioSerializer(many=True)

    serializer_class = MeSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Studio]:
        return Studio.objects.visible_to(member).filter(is_active=True).order_by("name")

    @extend_schema(responses={200: MeSerializer, 401: ErrorSerializer, 403: ErrorSerializer})
    def get(self, request: Request) -> Response:
        member = self.member
        numbers = list(
            PhoneNumber.objects.visible_to(member)
            .filter(is_active=True)
            .prefetch_related("shared_with")
            .order_by("number")
        )
        studios = [
            {
                "id": studio.pk,
                "name": studio.name,
                "numbers": [
                    {
                        "id": n.pk,
                        "number": n.number,
                        "label": n.label,
                        "provider": n.provider,
                        "shared": n.is_shared,
                    }
                    for n in numbers
                    if number_serves(n, studio)
                ],
            }
            for studio in self.get_queryset()
        ]
        data = {
            "user": {"id": member.user.pk, "name": member.user.get_full_name(), "email": member.user.email},
            "role": member.role,
            "is_manager": member.is_manager,
            "organization": {"id": member.organization.pk, "name": member.organization.name},
            "studios": studios,
        }
        return Response(self.get_serializer(data).data)
