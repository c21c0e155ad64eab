"""A conversation's texts (keyset pages, newest first) and sending, always through `message_send`.

POST /conversations/<id>/messages/ texts the conversation's contact; POST /messages/ starts a new conversation
with `to` and `studio_id`. The studio and number come from the body but are authority only after the scope:
a studio or number the member cannot see is 404, and `message_send` checks the member may act for the studio
and that the number serves it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from django.db import transaction
from django.db.models import QuerySet

from core.api import ErrorSerializer, TenantApi, visible_or_404
from core.exceptions import ApplicationError
from messaging.models import Contact, Conversation, Message
from messaging.selectors import conversation_thread_page
from messaging.services.send_requests import (
    Replay,
    SendRequestConflict,
    send_request_answer,
    send_request_claim,
    send_request_fingerprint,
)
from messaging.services.sending import message_send
from studios.models import Membership, PhoneNumber, Studio
from widget.api.pagination import MessagePagination
from widget.api.serializers import MessageOutputSerializer, message_rows_output
from widget.api.templates import TEMPLATE_KEYS, template_body

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
SEND_ERRORS = {**ERRORS, 409: ErrorSerializer, 422: ErrorSerializer}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A key of your choosing (1-255 visible ASCII characters, e.g. a UUID), one per text you compose and kept "
        "across retries of it. The same key from the same member within 24 h answers the first request's status "
        "and body again (with `Idempotent-Replayed: true`) and sends nothing new, even when the retries race. "
        "The same key with a different request (body or endpoint) is a 422 (`idempotency_key_reused`); a 409 "
        "(`idempotency_key_in_progress`) means the first is still running. A refused request (4xx) keeps no key, "
        "so the same text can be retried after fixing the cause."
    ),
)


class IdempotencyConflict(APIException):
    """The key's first request was another one (422), or is still running (409); in the one error shape."""

    def __init__(self, exc: SendRequestConflict):
        self.status_code = 422 if exc.code == "idempotency_key_reused" else 409
        super().__init__(exc.message, exc.code)
        self.extra = {"code": exc.code, "field": "Idempotency-Key"}


def idempotent(view: TenantApi, request: Request, send: Callable[[], Response]) -> Response:
    """Run `send` once per Idempotency-Key (when the request has one), answering its retries with its answer."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return send()
    data = request.data if isinstance(request.data, dict) else {}
    if hasattr(request.data, "lists"):  # a form body: every value, in a stable shape
        data = dict(request.data.lists())
    fingerprint = send_request_fingerprint(method=request.method, path=request.path, data=data)
    try:
        claim = send_request_claim(member=view.member, key=key, fingerprint=fingerprint)
    except SendRequestConflict as exc:
        raise IdempotencyConflict(exc) from exc
    if isinstance(claim, Replay):
        return Response(claim.body, status=claim.status, headers={"Idempotent-Replayed": "true"})
    try:
        response = send()
    except Exception:
        # A refusal keeps no key: the request's transaction (TenantApi.dispatch's), claim included, rolls back, so
        # the same text can be retried once the cause is fixed. (The error handler answers an ApplicationError
        # without marking the transaction for rollback, hence this.)
        transaction.set_rollback(True)
        raise
    send_request_answer(
        send_request=claim, status=response.status_code, body=response.data, message_id=response.data.get("id")
    )
    return response


class SendInputSerializer(serializers.Serializer):
    """A text: a `body`, or a studio `template` filled in with the contact's merge fields (optionally overridden)."""

    body = serializers.CharField(required=False, allow_blank=False, trim_whitespace=False)
    template = serializers.ChoiceField(choices=TEMPLATE_KEYS, required=False)
    merge_fields = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    studio_id = serializers.IntegerField(
        required=False, help_text="Send in this studio's name (default: the thread's)."
    )
    from_number_id = serializers.IntegerField(
        required=False, help_text="One of the studio's numbers (default: its first)."
    )

    def validate(self, attrs: dict) -> dict:
        if ("body" in attrs) == ("template" in attrs):
            raise serializers.ValidationError("Give either a body or a template.", code="body_or_template")
        return attrs


class NewConversationSendInputSerializer(SendInputSerializer):
    to = serializers.CharField(help_text="The recipient's phone, E.164 or national for the number's country.")
    studio_id = serializers.IntegerField(help_text="The studio in whose name the text goes.")
    contact_name = serializers.CharField(required=False, allow_blank=True, default="")


def api_message_send(
    *,
    member: Membership,
    studio_id: int | None,
    default_studio: Studio | None,
    to: str,
    contact: Contact | None,
    data: dict,
) -> Message:
    """Resolve the studio, number and text a member asked for, within what they can see, then `message_send`."""
    if studio_id is not None:
        studio = visible_or_404(
            Studio.objects.visible_to(member).select_related("organization"), studio_id, field="studio"
        )
    elif default_studio is not None:
        studio = default_studio
    else:
        raise ApplicationError(
            "This conversation is unassigned: choose the studio to send from.", extra={"field": "studio_id"}
        )
    from_number = None
    if data.get("from_number_id") is not None:
        from_number = visible_or_404(PhoneNumber.objects.visible_to(member), data["from_number_id"], field="number")
    body = data.get("body")
    if body is None:
        body = template_body(
            studio=studio,
            key=data["template"],
            contact=contact,
            name=data.get("contact_name", ""),
            sender=member,
            overrides=data["merge_fields"],
        )
    return message_send(
        studio=studio,
        to=to,
        body=body,
        sent_by=member,
        from_number=from_number,
        contact_name=data.get("contact_name", ""),
    )


class ConversationMessagesApi(TenantApi):
    """GET: a conversation's texts, newest first. POST: text its contact."""

    serializer_class = MessageOutputSerializer
    pagination_class = MessagePagination

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Conversation]:
        conversations = Conversation.objects.visible_to(member)
        if getattr(self.request, "method", None) == "POST":  # reading a page needs only the thread's visibility
            conversations = conversations.select_related("studio__organization", "contact")
        return conversations

    @extend_schema(responses={200: MessageOutputSerializer(many=True), **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        # The widget reads a page on every thread it opens and every poll: one statement checks the thread is
        # visible and reads the page as plain rows (pinned by tests/widget/test_api_messages_queries.py).
        def fetch(before: tuple[datetime, int] | None, limit: int) -> list[dict[str, Any]]:
            return conversation_thread_page(member=self.member, conversation_id=pk, before=before, limit=limit)

        try:
            page = self.paginator.paginate_rows(fetch, request)
        except ValidationError:
            self.get_object()  # a bad cursor on a thread that is not yours is still 404, as for any other request
            raise
        if not page:
            self.get_object()  # nothing read: 404 if the thread is not theirs, else it is empty
        return self.get_paginated_response(message_rows_output(page))

    @extend_schema(
        request=SendInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MessageOutputSerializer, **SEND_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        conversation = self.get_object()
        params = SendInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)

        def send() -> Response:
            message = api_message_send(
                member=self.member,
                studio_id=params.validated_data.get("studio_id"),
                default_studio=conversation.studio,
                to=conversation.contact.phone,
                contact=conversation.contact,
                data=params.validated_data,
            )
            return Response(self.get_serializer(message).data, status=201)

        return idempotent(self, request, send)


class MessageCreateApi(TenantApi):
    """POST /messages/: text a phone from a studio, starting (or continuing) that studio's conversation."""

    serializer_class = MessageOutputSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Message]:
        return Message.objects.visible_to(member)

    @extend_schema(
        request=NewConversationSendInputSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: MessageOutputSerializer, **SEND_ERRORS},
    )
    def post(self, request: Request) -> Response:
        params = NewConversationSendInputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data

        def send() -> Response:
            message = api_message_send(
                member=self.member,
                studio_id=data["studio_id"],
                default_studio=None,
                to=data["to"],
                contact=None,
                data=data,
            )
            return Response(self.get_serializer(message).data, status=201)

        return idempotent(self, request, send)
