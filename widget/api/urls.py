"""The widget API, mounted at /api/v1/."""

from django.urls import path

from widget.api.contacts import ContactOptOutApi
from widget.api.conversations import ConversationDetailApi, ConversationListApi, ConversationMarkReadApi
from widget.api.crm import ContactCrmApi
from widget.api.me import MeApi
from widget.api.messages import ConversationMessagesApi, MessageCreateApi
from widget.api.templates import TemplateListApi, TemplateRenderApi

app_name = "api"
urlpatterns = [
    path("me/", MeApi.as_view(), name="me"),
    path("conversations/", ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<int:pk>/", ConversationDetailApi.as_view(), name="conversation-detail"),
    path("conversations/<int:pk>/read/", ConversationMarkReadApi.as_view(), name="conversation-read"),
    path("conversations/<int:pk>/messages/", ConversationMessagesApi.as_view(), name="conversation-messages"),
    path("messages/", MessageCreateApi.as_view(), name="message-create"),
    path("contacts/<int:pk>/opt-out/", ContactOptOutApi.as_view(), name="contact-opt-out"),
    path("contacts/<int:pk>/crm/", ContactCrmApi.as_view(), name="contact-crm"),
    path("templates/", TemplateListApi.as_view(), name="template-list"),
    path("templates/render/", TemplateRenderApi.as_view(), name="template-render"),
]
