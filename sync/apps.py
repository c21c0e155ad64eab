from django.apps import AppConfig


class SyncConfig(AppConfig):
    """The CRM mirror: Zoho modules in PostgreSQL, runs, locks and alerts (built by the mirror issue)."""

    name = "sync"

    def ready(self) -> None:
        # Registers the processor of recorded Zoho Notifications callbacks (core.webhooks) for zoho.notification.
        from sync import checks, notifications  # noqa: F401
