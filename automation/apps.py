from django.apps import AppConfig


class AutomationConfig(AppConfig):
    """Lead automation: the new-lead webhook (task + welcome text), replies that drive follow-ups, the log."""

    name = "automation"

    def ready(self) -> None:
        # Registers the processor of recorded new-lead webhooks (core.webhooks) for zoho.lead, and the receivers of
        # messaging's hooks (messaging/hooks.py): inbound texts (the reply keyword), keyword answers not sent.
        from automation import receivers  # noqa: F401
        from automation.services import intake  # noqa: F401
