"""Microsoft Dynamics 365 / Dataverse: one customer tenant's environment per connection (docs/crm/dynamics.md)."""

from django.apps import AppConfig

# Microsoft Entra ID's login hosts (worldwide, US Government, China: national clouds) where tokens are issued and
# administrators consent.
ENTRA_LOGIN_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn")
# Dataverse environments: https://<org>.crm.dynamics.com and its regional crmN hosts, and the government and China
# clouds' hosts (each customer's environment is its own subdomain).
DATAVERSE_HOSTS = (
    "*.crm.dynamics.com",
    *(f"*.crm{region}.dynamics.com" for region in range(2, 22)),
    "*.crm.microsoftdynamics.us",
    "*.crm.appsplatform.us",
    "*.crm.dynamics.cn",
)


class DynamicsConfig(AppConfig):
    """Dynamics 365 / Dataverse: connections by admin consent of Leadline's multi-tenant Entra app, tokens from
    msal per customer tenant, the Web API client with service protection, the CrmProvider (provider.py)."""

    name = "crm.providers.dynamics"
    label = "dynamics"
    verbose_name = "Microsoft Dynamics 365"

    def ready(self) -> None:
        from core import outbound
        from crm.connection_settings import connection_settings_register
        from crm.providers.dynamics.models import DynamicsConnection

        # The hosts a manager may give a Dynamics account; only an operator may point one at an emulator.
        outbound.vendor_hosts_register(
            kind="dynamics",
            vendor="Microsoft Dynamics 365",
            fields={"accounts_url": ENTRA_LOGIN_HOSTS, "api_domain": DATAVERSE_HOSTS},
        )
        # What an operator may set on the connection from the tenants file: how texts appear on the timeline (a
        # task or the custom SMS activity table) and which column mirrors opt-outs.
        connection_settings_register(
            "dynamics",
            model=DynamicsConnection,
            names=("timeline_activity", "custom_activity_table", "opt_out_column"),
        )
