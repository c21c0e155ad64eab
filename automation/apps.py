from django.apps import AppConfig


class AutomationConfig(AppConfig):
    """Lead automation: the new-lead webhook (task + welcome text), replies that drive follow-ups, the log."""

    name = "automation"

    def ready(self) -> None:
        # The processor of recorded new-lead webhooks (core.webhooks), one source per registered CRM kind (crm's
        # ready() ran first: it is above in INSTALLED_APPS), and the receivers of messaging's hooks
        # (messaging/hooks.py): inbound texts (the reply keyword), keyword answers not sent.
        from automation import receivers  # noqa: F401
        from automation.services.intake import lead_event_process
        from automation.webhooks import lead_event_source
        from core.webhooks import processor
        from crm.registry import registered

        for kind in registered():
            processor(lead_event_source(kind))(lead_event_process)
