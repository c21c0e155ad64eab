from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Two-way SMS: contacts, conversations, messages, SMS providers (messaging/providers/), opt-outs, webhooks."""

    name = "messaging"

    def ready(self) -> None:
        from messaging.providers import vendor_hosts_register

        # Registers the processors of recorded webhooks (core.webhooks) for twilio.sms and twilio.status.
        from messaging.services import inbound  # noqa: F401

        vendor_hosts_register()  # each SMS provider's own hosts (core.outbound)
