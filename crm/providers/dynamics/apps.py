"""Microsoft Dynamics 365 / Dataverse: one customer tenant's environment per connection (docs/crm/dynamics.md)."""

from django.apps import AppConfig


class DynamicsConfig(AppConfig):
    """Dynamics 365 / Dataverse: connections by admin consent of Leadline's multi-tenant Entra app, tokens from
    msal per customer tenant, the Web API client with service protection, the CrmProvider (provider.py)."""

    name = "crm.providers.dynamics"
    label = "dynamics"
    verbose_name = "Microsoft Dynamics 365"

    def ready(self) -> None:
        from crm.connection_settings import connection_settings_register
        from crm.providers.dynamics.hosts import hosts_register
        from crm.providers.dynamics.models import DynamicsConnection

        # The hosts a manager may give a Dynamics account (Entra's login hosts, Dataverse environments); only an
        # operator may point one at an emulator.
        hosts_register()
        # What an operator may set on the connection from the tenants file: how texts appear on the timeline (a
        # task or the custom SMS activity table), which column mirrors opt-outs, and the environment URL when it
        # carries a path an account's API domain cannot (an emulator's /dynamics/<name>).
        connection_settings_register(
            "dynamics",
            model=DynamicsConnection,
            names=("environment_url", "timeline_activity", "custom_activity_table", "opt_out_column"),
        )
