"""The managers' admin for Salesforce connections: state, the org and user, the instance, the org's API allocation
as last seen and any block, the last error; Connect / Reconnect, Check, Disconnect (the connect and disconnect
pages are crm.admin_connection's)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from crm.admin_connection import CrmConnectionAddForm, CrmConnectionAdmin
from crm.errors import CrmError
from crm.providers.salesforce import hosts, oauth
from crm.providers.salesforce.models import SalesforceConnection
from studios.models import ProviderAccount, ProviderKind


class SalesforceConnectionAddForm(CrmConnectionAddForm):
    class Meta:
        model = SalesforceConnection
        fields = ["organization", "account"]


class ConnectForm(forms.Form):
    login = forms.ChoiceField(
        label="Sign in at",
        choices=hosts.LOGIN_CHOICES,
        initial="account",
        help_text="Where your org's users sign in: a sandbox org at test.salesforce.com; with My Domain login "
        "policies, set the account's login host to https://<your domain>.my.salesforce.com.",
    )


@admin.register(SalesforceConnection)
class SalesforceConnectionAdmin(CrmConnectionAdmin):
    list_display = ["account", "organization", "state", "sf_org_id", "user_email", "api_usage_shown", "blocked"]
    search_fields = ["account__name", "sf_org_id", "org_name", "user_email"]
    readonly_fields = [
        "account",
        "state",
        "sf_org_id",
        "org_name",
        "is_sandbox",
        "user_id",
        "user_email",
        "user_name",
        "login_host",
        "instance",
        "api_usage_shown",
        "limit_blocked_until",
        "last_error",
        "last_error_at",
        "connected_at",
        "connected_by",
        "last_refreshed_at",
        "identity_url",
        "scopes",
    ]
    change_form_template = "admin/salesforce/salesforceconnection/change_form.html"
    crm_name = "Salesforce"
    add_form = SalesforceConnectionAddForm
    connect_form = ConnectForm
    # Salesforce accounts without a connection yet (one per account).
    account_filter = {"kind": ProviderKind.SALESFORCE, "salesforce_connection__isnull": True}
    connect_errors = (CrmError,)

    def connect_start(self, request: HttpRequest, connection: SalesforceConnection, form: forms.Form) -> str:
        return oauth.authorize_url(
            connection.account, session=request.session, options={"login": form.cleaned_data["login"]}
        )

    def disconnect(self, account: ProviderAccount) -> SalesforceConnection:
        return oauth.disconnect(account)

    @admin.display(description="login host")
    def login_host(self, obj: SalesforceConnection) -> str:
        return obj.account.accounts_url

    @admin.display(description="instance")
    def instance(self, obj: SalesforceConnection) -> str:
        return obj.account.api_domain or "(named by Salesforce when connected)"

    @admin.display(description="API requests (24 h)")
    def api_usage_shown(self, obj: SalesforceConnection) -> str:
        if obj.api_usage is None or not obj.api_limit:
            return "not seen yet"
        share = 100 * obj.api_usage / obj.api_limit
        seen = timezone.localtime(obj.api_usage_at).strftime("%Y-%m-%d %H:%M") if obj.api_usage_at else "?"
        return f"{obj.api_usage:,} of {obj.api_limit:,} ({share:.0f}%), seen {seen}"
