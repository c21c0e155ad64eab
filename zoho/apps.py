from django.apps import AppConfig


class ZohoConfig(AppConfig):
    """Zoho CRM: OAuth connections, the API client and new-lead automation (built by the Zoho issue)."""

    name = "zoho"
