"""Output shapes shared by several endpoints (a conversation, a message, the one error shape)."""

from __future__ import annotations

from rest_framework import serializers

from messaging.models import Contact, Conversation, Message


class ErrorSerializer(serializers.Serializer):
    """Every failure: `{"message", "extra"}` (core.exceptions.api_exception_handler)."""

    message = serializers.CharField()
    extra = serializers.DictField()


class StudioRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ContactOutputSerializer(serializers.ModelSerializer):
    crm_linked = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = ["id", "name", "phone", "crm_module", "crm_record_id", "crm_linked"]

    def get_crm_linked(self, obj: Contact) -> bool:
        return bool(obj.crm_module and obj.crm_record_id)


class ConversationOutputSerializer(serializers.ModelSerializer):
    studio = StudioRefSerializer(allow_null=True)
    contact = ContactOutputSerializer()
    unassigned = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "studio",
            "unassigned",
            "contact",
            "last_message_at",
            "unread_count",
            "needs_attention",
            "attention_reason",
        ]

    def get_unassigned(self, obj: Conversation) -> bool:
        return obj.studio_id is None


class MessageOutputSerializer(serializers.ModelSerializer):
    conversation_id = serializers.IntegerField()
    studio_id = serializers.IntegerField(allow_null=True)
    sent_by_name = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "studio_id",
            "direction",
            "kind",
            "body",
            "from_number",
            "to_number",
            "status",
            "error_code",
            "error_message",
            "segments",
            "encoding",
            "sent_by_name",
            "on_behalf_of_studio",
            "created_at",
            "delivered_at",
        ]

    def get_sent_by_name(self, obj: Message) -> str | None:
        # Inbound texts and automation have no sender; staff see who of their colleagues wrote.
        if obj.sent_by_id is None:
            return None
        return obj.sent_by.user.get_full_name()
