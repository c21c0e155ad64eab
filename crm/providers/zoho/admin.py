"""The managers' admin for Zoho connections: state, the Zoho org and user, Connect / Reconnect, Disconnect (the pages
themselves are crm.admin_connection's)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from core.exceptions import ApplicationError
from crm.admin_connection import CrmConnectionAddForm, CrmConnectionAdmin
from crm.providers.zoho import oauth
from crm.providers.zoho.models import ZohoConnection
from studios.models import ProviderAccount


class ZohoConnectionAddForm(CrmConnectionAddForm):
    class Meta:
        model = ZohoConnection
        fields = ["organization", "account", "credit_limit"]


class ConnectForm(forms.Form):
    data_centre = forms.ChoiceField(
        choices=oauth.DATA_CENTRE_CHOICES,
        initial="account",
        help_text="Where your Zoho account lives. Zoho tells us the data centre on the way back, so 'Detect' works "
        "if the accounts server below is any Zoho one.",
    )


@admin.register(ZohoConnection)
class ZohoConnectionAdmin(CrmConnectionAdmin):
    list_display = ["account", "kind", "organization", "state", "zoho_org_id", "zoho_user_email", "last_refreshed_at"]
    search_fields = ["account__name", "zoho_org_id", "zoho_user_email"]
    readonly_fields = [
        "account",
        "state",
        "location",
        "zoho_org_id",
        "zoho_org_name",
        "zoho_user_id",
        "zoho_user_email",
        "zoho_user_name",
        "scopes",
        "last_error",
        "last_error_at",
        "connected_at",
        "connected_by",
        "last_refreshed_at",
        "accounts_server",
        "api_domain",
    ]
    change_form_template = "admin/zoho/zohoconnection/change_form.html"
    crm_name = "Zoho"
    add_form = ZohoConnectionAddForm
    connect_form = ConnectForm
    editable_fields = ["credit_limit"]
    # Zoho accounts without a connection yet (one per account).
    account_filter = {"kind__in": ("zoho_crm", "zoho_voice"), "zoho_connection__isnull": True}
    connect_errors = (ApplicationError,)

    def connect_start(self, request: HttpRequest, connection: ZohoConnection, form: forms.Form) -> str:
        return oauth.connect_start(
            account=connection.account, session=request.session, data_centre=form.cleaned_data["data_centre"]
        )

    def disconnect(self, account: ProviderAccount) -> ZohoConnection:
        return oauth.disconnect(account=account)

    @admin.display(description="kind")
    def kind(self, obj: ZohoConnection) -> str:
        return obj.account.get_kind_display()

    @admin.display(description="accounts server")
    def accounts_server(self, obj: ZohoConnection) -> str:
        return obj.account.accounts_url

    @admin.display(description="API domain")
    def api_domain(self, obj: ZohoConnection) -> str:
        return obj.account.api_domain or obj.account.api_base_url
