from django.apps import AppConfig


class LinksConfig(AppConfig):
    """Two-way sync: two CRM connections of one organization kept in step, driven by their mirrors."""

    name = "links"

    def ready(self) -> None:
        # The mirror's records-changed receiver (crm.hooks), which records the changes of linked objects.
        from links import dashboard, receivers  # noqa: F401  (the sync dashboard's section of links, too)
