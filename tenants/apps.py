from django.apps import AppConfig


class TenantsConfig(AppConfig):
    """The operators' tenants file (`manage.py tenants`) and the demo (`manage.py demo`). A top-layer app: applying
    a file touches every app's settings (provider accounts, members' CRM user ids, the new-lead webhook token)."""

    name = "tenants"
    verbose_name = "Tenants file"
