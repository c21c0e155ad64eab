from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Accounts and operations"
    default = True


class LeadlineAdminConfig(admin_apps.AdminConfig):
    """Django's admin with our site class, which lets customer managers in through their membership."""

    default = False
    default_site = "core.admin_site.LeadlineAdminSite"
