"""The managers' admin for Zoho connections: state, the Zoho org and user, Connect / Reconnect, Disconnect."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator

from core.admin import TenantModelAdmin
from core.exceptions import ApplicationError
from crm.providers.zoho import oauth
from crm.providers.zoho.models import ZohoConnection


class ZohoConnectionAddForm(forms.ModelForm):
    class Meta:
        model = ZohoConnection
        fields = ["organization", "account", "credit_limit"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account, organization = cleaned.get("account"), cleaned.get("organization")
        if account and organization and account.organization_id != organization.pk:
            self.add_error("account", "The account belongs to another organization.")
        return cleaned


class ConnectForm(forms.Form):
    data_centre = forms.ChoiceField(
        choices=oauth.DATA_CENTRE_CHOICES,
        initial="account",
        help_text="Where your Zoho account lives. Zoho tells us the data centre on the way back, so 'Detect' works "
        "if the accounts server below is any Zoho one.",
    )


@admin.register(ZohoConnection)
class ZohoConnectionAdmin(TenantModelAdmin):
    list_display = ["account", "kind", "organization", "state", "zoho_org_id", "zoho_user_email", "last_refreshed_at"]
    list_filter = ["state", "organization"]
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
    actions = None

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "account")

    def get_form(self, request: HttpRequest, obj: ZohoConnection | None = None, **kwargs: Any):
        if obj is None:
            kwargs["form"] = ZohoConnectionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ZohoConnection | None = None):
        if obj is None:
            return ["organization", "account", "credit_limit"]
        return ["organization", *self.readonly_fields, "credit_limit"]

    def get_readonly_fields(self, request: HttpRequest, obj: ZohoConnection | None = None):
        return ["organization", *self.readonly_fields] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "account":
            # Zoho accounts without a connection yet (one per account).
            field.queryset = field.queryset.filter(kind__in=("zoho_crm", "zoho_voice"), zoho_connection__isnull=True)
        return field

    @admin.display(description="kind")
    def kind(self, obj: ZohoConnection) -> str:
        return obj.account.get_kind_display()

    @admin.display(description="accounts server")
    def accounts_server(self, obj: ZohoConnection) -> str:
        return obj.account.accounts_url

    @admin.display(description="API domain")
    def api_domain(self, obj: ZohoConnection) -> str:
        return obj.account.api_domain or obj.account.api_base_url

    # --- connect and disconnect --------------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/connect/", wrap(self.connect_view), name="zoho_zohoconnection_connect"),
            path("<int:object_id>/disconnect/", wrap(self.disconnect_view), name="zoho_zohoconnection_disconnect"),
            *super().get_urls(),
        ]

    def _connection_or_404(self, request: HttpRequest, object_id: int) -> ZohoConnection:
        connection = self.get_queryset(request).filter(pk=object_id).first()
        if connection is None:
            raise Http404("No such Zoho connection")
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        return connection

    def _page(self, request: HttpRequest, connection: ZohoConnection, template: str, **context: Any):
        context.update(
            self.admin_site.each_context(request),
            opts=self.opts,
            original=connection,
            title=f"{context.get('title', '')} {connection.account.name}",
        )
        return TemplateResponse(request, f"admin/zoho/zohoconnection/{template}", context)

    @method_decorator(transaction.non_atomic_requests)
    def connect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        form = ConnectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                url = oauth.connect_start(
                    account=connection.account, session=request.session, data_centre=form.cleaned_data["data_centre"]
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                return redirect(url)
        return self._page(request, connection, "connect.html", form=form, title="Connect Zoho:")

    @method_decorator(transaction.non_atomic_requests)  # revoking calls Zoho: no transaction around it
    def disconnect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        if request.method == "POST":
            connection = oauth.disconnect(account=connection.account)
            if connection.last_error:
                messages.warning(request, f"Disconnected here, but: {connection.last_error}")
            else:
                messages.success(request, f"{connection.account.name} is disconnected; Zoho revoked the token.")
            return redirect(reverse("admin:zoho_zohoconnection_change", args=[connection.pk]))
        return self._page(request, connection, "disconnect.html", title="Disconnect Zoho:")
