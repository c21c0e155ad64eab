from django.apps import AppConfig


class ZohoConfig(AppConfig):
    """Zoho CRM: OAuth connections, the token broker, the API client with its limits, the CrmProvider (provider.py).

    The label stays "zoho", as before this package moved under crm/providers/: table names, migration history and
    content types are keyed by it.
    """

    name = "crm.providers.zoho"
    label = "zoho"
    verbose_name = "Zoho"
