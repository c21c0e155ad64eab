from django.apps import AppConfig

# HubSpot's own hosts: the API and token host, and the app where people consent and open records.
HUBSPOT_API_HOSTS = ("api.hubapi.com",)
HUBSPOT_APP_HOSTS = ("app.hubspot.com",)


class HubSpotConfig(AppConfig):
    """HubSpot: OAuth connections per portal (hub), sign-in with HubSpot, the token broker, the REST client with its
    rate budget, the CrmProvider (provider.py)."""

    name = "crm.providers.hubspot"
    label = "hubspot"
    verbose_name = "HubSpot"

    def ready(self) -> None:
        from core import outbound
        from crm.connection_settings import connection_settings_register
        from crm.providers.hubspot.models import HubSpotConnection

        # The hosts a manager may give a HubSpot account; only an operator may point one at an emulator.
        outbound.vendor_hosts_register(
            kind="hubspot",
            vendor="HubSpot",
            fields={"accounts_url": HUBSPOT_APP_HOSTS, "api_domain": HUBSPOT_API_HOSTS},
        )
        # What an operator may set on the connection from the tenants file: which contacts count as leads, how
        # texts appear on the timeline.
        connection_settings_register(
            "hubspot", model=HubSpotConnection, names=("lead_lifecycle_stages", "timeline_activity")
        )
