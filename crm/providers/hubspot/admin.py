"""The managers' admin for HubSpot connections: state, the portal and the user who installed the app (and the owner
id members are known by), which contacts count as leads and how texts appear on the timeline (both editable), the
portal's daily allowance as last seen and any block, the last error; Connect / Reconnect and Disconnect (the pages
are crm.admin_connection's)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from crm.admin_connection import CrmConnectionAddForm, CrmConnectionAdmin
from crm.errors import CrmError
from crm.providers.hubspot import oauth
from crm.providers.hubspot.models import HubSpotConnection
from crm.records import Identity
from studios.models import ProviderAccount, ProviderKind


class HubSpotConnectionAddForm(CrmConnectionAddForm):
    class Meta:
        model = HubSpotConnection
        fields = ["organization", "account", "lead_lifecycle_stages", "timeline_activity"]


@admin.register(HubSpotConnection)
class HubSpotConnectionAdmin(CrmConnectionAdmin):
    list_display = ["account", "organization", "state", "hub_id", "hub_domain", "user_email", "daily_shown", "blocked"]
    search_fields = ["account__name", "hub_id", "hub_domain", "user_email"]
    readonly_fields = [
        "account",
        "state",
        "hub_id",
        "hub_domain",
        "user_email",
        "user_id",
        "owner_id",
        "app_id",
        "daily_shown",
        "limit_blocked_until",
        "last_error",
        "last_error_at",
        "connected_at",
        "connected_by",
        "last_refreshed_at",
        "scopes",
    ]
    editable_fields = ["lead_lifecycle_stages", "timeline_activity"]
    change_form_template = "admin/hubspot/hubspotconnection/change_form.html"
    crm_name = "HubSpot"
    add_form = HubSpotConnectionAddForm
    # HubSpot accounts without a connection yet (one per account).
    account_filter = {"kind": ProviderKind.HUBSPOT, "hubspot_connection__isnull": True}
    connect_errors = (CrmError,)

    def connect_start(self, request: HttpRequest, connection: HubSpotConnection, form: forms.Form) -> str:
        return oauth.authorize_url(connection.account, session=request.session)

    def disconnect(self, account: ProviderAccount) -> HubSpotConnection:
        return oauth.disconnect(account)

    def check_answered(self, identity: Identity) -> str:
        """Check reads the token info (portal, user) and the user's owner."""
        owner = f"owner {identity.user_id}" if identity.user_id else "no owner id"
        return f"HubSpot answered: portal {identity.org_id}, {identity.user_email or 'user'} ({owner})."

    @admin.display(description="API requests left today")
    def daily_shown(self, obj: HubSpotConnection) -> str:
        if obj.daily_remaining is None or not obj.daily_limit:
            return "not seen yet"
        seen = timezone.localtime(obj.rate_seen_at).strftime("%Y-%m-%d %H:%M") if obj.rate_seen_at else "?"
        return f"{obj.daily_remaining:,} of {obj.daily_limit:,}, seen {seen}"
