from django.apps import AppConfig

# "*.suffix" names every host under suffix (core.outbound matches the pattern, never the bare suffix).
SALESFORCE_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com")
SALESFORCE_INSTANCE_HOSTS = ("*.my.salesforce.com",)


class SalesforceConfig(AppConfig):
    """Salesforce: OAuth connections (web server flow), sign-in with Salesforce, the token broker, the REST client
    with its allocation budget, the CrmProvider (provider.py)."""

    name = "crm.providers.salesforce"
    label = "salesforce"
    verbose_name = "Salesforce"

    def ready(self) -> None:
        from core import outbound

        # The hosts a manager may give a Salesforce account: the login hosts (production, sandbox orgs, an org's
        # My Domain) and an org's instance (its My Domain). An operator may still point it at an emulator.
        outbound.vendor_hosts_register(
            kind="salesforce",
            vendor="Salesforce",
            fields={
                "accounts_url": SALESFORCE_LOGIN_HOSTS,
                "api_domain": SALESFORCE_INSTANCE_HOSTS,
            },
        )
