"""The managers' admin for Salesforce connections: state, the org and user, the instance, the org's API allocation
as last seen and any block, the last error; Connect / Reconnect, Check, Disconnect."""

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
from django.utils import timezone
from django.utils.decorators import method_decorator

from core.admin import TenantModelAdmin
from crm.errors import CrmError
from crm.providers.salesforce import hosts, oauth
from crm.providers.salesforce.models import SalesforceConnection
from studios.models import ProviderKind


class SalesforceConnectionAddForm(forms.ModelForm):
    class Meta:
        model = SalesforceConnection
        fields = ["organization", "account"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account, organization = cleaned.get("account"), cleaned.get("organization")
        if account and organization and account.organization_id != organization.pk:
            self.add_error("account", "The account belongs to another organization.")
        return cleaned


class ConnectForm(forms.Form):
    login = forms.ChoiceField(
        label="Sign in at",
        choices=hosts.LOGIN_CHOICES,
        initial="account",
        help_text="Where your org's users sign in: a sandbox org at test.salesforce.com; with My Domain login "
        "policies, set the account's login host to https://<your domain>.my.salesforce.com.",
    )


@admin.register(SalesforceConnection)
class SalesforceConnectionAdmin(TenantModelAdmin):
    list_display = ["account", "organization", "state", "sf_org_id", "user_email", "api_usage_shown", "blocked"]
    list_filter = ["state", "organization"]
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
    actions = None

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "account")

    def get_form(self, request: HttpRequest, obj: SalesforceConnection | None = None, **kwargs: Any):
        if obj is None:
            kwargs["form"] = SalesforceConnectionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: SalesforceConnection | None = None):
        if obj is None:
            return ["organization", "account"]
        return ["organization", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: SalesforceConnection | None = None):
        return ["organization", *self.readonly_fields] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "account":
            # Salesforce accounts without a connection yet (one per account).
            field.queryset = field.queryset.filter(kind=ProviderKind.SALESFORCE, salesforce_connection__isnull=True)
        return field

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

    @admin.display(description="blocked until")
    def blocked(self, obj: SalesforceConnection) -> str:
        if obj.limit_blocked_until and obj.limit_blocked_until > timezone.now():
            return timezone.localtime(obj.limit_blocked_until).strftime("%Y-%m-%d %H:%M")
        return ""

    # --- connect, check and disconnect ---------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "salesforce_salesforceconnection"
        return [
            path("<int:object_id>/connect/", wrap(self.connect_view), name=f"{name}_connect"),
            path("<int:object_id>/check/", wrap(self.check_view), name=f"{name}_check"),
            path("<int:object_id>/disconnect/", wrap(self.disconnect_view), name=f"{name}_disconnect"),
            *super().get_urls(),
        ]

    def _connection_or_404(self, request: HttpRequest, object_id: int) -> SalesforceConnection:
        connection = self.get_queryset(request).filter(pk=object_id).first()
        if connection is None:
            raise Http404("No such Salesforce connection")
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        return connection

    def _page(self, request: HttpRequest, connection: SalesforceConnection, template: str, **context: Any):
        context.update(
            self.admin_site.each_context(request),
            opts=self.opts,
            original=connection,
            title=f"{context.get('title', '')} {connection.account.name}",
        )
        return TemplateResponse(request, f"admin/salesforce/salesforceconnection/{template}", context)

    def _change_page(self, connection: SalesforceConnection) -> HttpResponse:
        return redirect(reverse("admin:salesforce_salesforceconnection_change", args=[connection.pk]))

    @method_decorator(transaction.non_atomic_requests)
    def connect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        form = ConnectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                url = oauth.authorize_url(
                    connection.account, session=request.session, options={"login": form.cleaned_data["login"]}
                )
            except CrmError as exc:
                messages.error(request, exc.message)
            else:
                return redirect(url)
        return self._page(request, connection, "connect.html", form=form, title="Connect Salesforce:")

    @method_decorator(transaction.non_atomic_requests)  # asks Salesforce: no transaction around it
    def check_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        if request.method != "POST":
            return self._change_page(connection)
        try:
            identity = oauth.identity_fetch(connection.account)
        except CrmError as exc:
            messages.error(request, f"Salesforce did not answer as this connection: {exc.message}")
        else:
            who = identity.user_email or identity.user_id
            messages.success(request, f"Salesforce answered: org {identity.org_id}, user {who}.")
        return self._change_page(connection)

    @method_decorator(transaction.non_atomic_requests)  # revoking calls Salesforce: no transaction around it
    def disconnect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        if request.method == "POST":
            connection = oauth.disconnect(connection.account)
            if connection.last_error:
                messages.warning(request, f"Disconnected here, but: {connection.last_error}")
            else:
                messages.success(request, f"{connection.account.name} is disconnected; Salesforce revoked the token.")
            return self._change_page(connection)
        return self._page(request, connection, "disconnect.html", title="Disconnect Salesforce:")
