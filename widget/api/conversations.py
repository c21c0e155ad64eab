"""Conversations the member can see: the list (filters, search, keyset pages), one conversation, mark read."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.db.models import QuerySet

from core.api import ErrorSerializer, TenantApi
from messaging.models import Conversation
from messaging.selectors import conversation_list
from messaging.services.threads import conversation_mark_read
from studios.models import Membership
from widget.api.pagination import ConversationPagination
from widget.api.serializers import ConversationOutputSerializer

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class ConversationListApi(TenantApi):
    """GET /conversations/: the member's conversations, most recent activity first."""

    class FilterSerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, default=False)
        needs_attention = serializers.BooleanField(required=False, default=False)
        unassigned = serializers.BooleanField(
            required=False, default=False, help_text="The unassigned queue (managers; always empty for staff)."
        )
        studio_id = serializers.IntegerField(required=False, allow_null=True, default=None)
        q = serializers.CharField(required=False, allow_blank=True, default="", help_text="A name or phone digits.")
        crm_record_id = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=64, help_text="The linked CRM record's id."
        )

    serializer_class = ConversationOutputSerializer
    pagination_class = ConversationPagination

    filters: dict | None = None  # set per request by get(), from the validated query string

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Conversation]:
        return conversation_list(member=member, **(self.filters or {}))

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", bool, description="Only conversations with unread texts."),
            OpenApiParameter("needs_attention", bool, description="Only conversations flagged for a person."),
            OpenApiParameter("unassigned", bool, description="The unassigned queue (managers)."),
            OpenApiParameter("studio_id", int, description="Only this studio's conversations."),
            OpenApiParameter("q", str, description="Search by the contact's name or phone."),
            OpenApiParameter("crm_record_id", str, description="Only the contact linked to this CRM record."),
        ],
        responses={200: ConversationOutputSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = dict(params.validated_data)
        filters["search"] = filters.pop("q")
        self.filters = filters
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ConversationDetailApi(TenantApi):
    """GET /conversations/<id>/: one conversation."""

    serializer_class = ConversationOutputSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Conversation]:
        return Conversation.objects.visible_to(member).select_related("studio", "contact")

    @extend_schema(responses={200: ConversationOutputSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)


class ConversationMarkReadApi(TenantApi):
    """POST /conversations/<id>/read/: the member has read it (unread count back to zero, or to what arrived
    after `last_seen_message_id` so a text that came in while they read is not lost)."""

    class InputSerializer(serializers.Serializer):
        last_seen_message_id = serializers.IntegerField(required=False, allow_null=True, default=None)

    serializer_class = ConversationOutputSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Conversation]:
        return Conversation.objects.visible_to(member).select_related("studio", "contact")

    @extend_schema(request=InputSerializer, responses={200: ConversationOutputSerializer, **ERRORS})
    def post(self, request: Request, pk: int) -> Response:
        conversation = self.get_object()
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        conversation = conversation_mark_read(
            conversation=conversation,
            member=self.member,
            last_seen_message_id=params.validated_data["last_seen_message_id"],
        )
        return Response(self.get_serializer(conversation).data)
