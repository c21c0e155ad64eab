from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Two-way SMS: contacts, conversations, messages, providers, opt-outs (built by the messaging issue)."""

    name = "messaging"
