from django.apps import AppConfig


class SyncConfig(AppConfig):
    """The CRM mirror: Zoho modules in PostgreSQL, runs, locks and alerts (built by the mirror issue)."""

    name = "sync"
