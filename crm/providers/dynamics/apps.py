from django.apps import AppConfig


class DynamicsConfig(AppConfig):
    """Dynamics 365 / Dataverse: connections by admin consent of Leadline's multi-tenant Entra app, tokens from
    msal per customer tenant, the Web API client with service protection, the CrmProvider (provider.py)."""

    name = "crm.providers.dynamics"
    label = "dynamics"
    verbose_name = "Microsoft Dynamics 365"
