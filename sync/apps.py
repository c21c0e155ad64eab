from django.apps import AppConfig


class SyncConfig(AppConfig):
    """The CRM mirror: every connected CRM's objects in the database, runs, locks and alerts."""

    name = "sync"

    def ready(self) -> None:
        # The processor of recorded change notifications ("<kind>.notification", core.webhooks), for every CRM kind
        # the registry holds (the crm app, installed before this one, has discovered them).
        from sync import change_events, checks, receivers  # noqa: F401  (receivers: messaging's hooks)

        change_events.processors_register()
