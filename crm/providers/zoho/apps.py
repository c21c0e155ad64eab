from django.apps import AppConfig


class ZohoConfig(AppConfig):
    """Zoho CRM: OAuth connections, the token broker, the API client with its limits, the CrmProvider (provider.py).

    The label stays "zoho", as before this package moved under crm/providers/: table names, migration history and
    content types are keyed by it.
    """

    name = "crm.providers.zoho"
    label = "zoho"
    verbose_name = "Zoho"

    def ready(self) -> None:
        from core import outbound
        from crm.providers.zoho.data_centres import ZOHO_ACCOUNTS_HOSTS, ZOHO_API_HOSTS

        # The hosts a manager may give a Zoho CRM account; an operator may still point it at an emulator.
        outbound.vendor_hosts_register(
            kind="zoho_crm", vendor="Zoho", fields={"accounts_url": ZOHO_ACCOUNTS_HOSTS, "api_domain": ZOHO_API_HOSTS}
        )
