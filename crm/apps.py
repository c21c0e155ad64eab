from django.apps import AppConfig


class CrmConfig(AppConfig):
    """The CRM layer: one provider interface, typed errors and a registry; each CRM is a package in providers/."""

    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from crm.registry import autodiscover

        autodiscover()
