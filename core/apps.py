from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and operations"
    default = True

    def ready(self) -> None:
        # Every process (web, worker, beat, commands) passes here at start-up: a malformed encryption key stops it
        # now, not at the first secret written.
        from django.conf import settings

        from core.secrets import field_encryption_keys_check

        field_encryption_keys_check(settings.FIELD_ENCRYPTION_KEYS)


class LeadlineAdminConfig(admin_apps.AdminConfig):
    """Django's admin with our site class, which lets customer managers in through their membership."""

    default = False
    default_site = "core.admin_site.LeadlineAdminSite"
