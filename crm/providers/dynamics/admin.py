"""The managers' admin for Dynamics 365 connections: state, the tenant and environment (its organization id and
name), Leadline's application user there, how texts appear on the timeline and the opt-out column (editable), any
service-protection block, the last error; Connect / Reconnect (the manager names the environment URL, then an
administrator of the tenant grants consent), Check, Disconnect (the pages are crm.admin_connection's), and the
webhook page: the URL and header the customer's webhook registration needs, and its secret (generate / rotate)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from crm.admin_connection import CrmConnectionAddForm, CrmConnectionAdmin
from crm.errors import CrmError
from crm.providers.dynamics import oauth
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import environment_url, webhook_secret_rotate
from crm.records import Identity
from studios.models import ProviderAccount, ProviderKind

WEBHOOK_HEADER = "x-leadline-webhook-key"


def webhook_header() -> str:
    from crm.providers.dynamics.conf import dynamics_settings

    return str(dynamics_settings.WEBHOOK_HEADER or WEBHOOK_HEADER)


def webhook_url() -> str:
    """Where the customer's webhook registration posts new leads (one URL for every environment)."""
    return settings.PUBLIC_BASE_URL + reverse("crm-app-events", args=["dynamics"])


class DynamicsConnectionAddForm(CrmConnectionAddForm):
    class Meta:
        model = DynamicsConnection
        fields = ["organization", "account", "timeline_activity", "custom_activity_table", "opt_out_column"]


class DynamicsConnectForm(forms.Form):
    environment_url = forms.CharField(
        label="Environment URL",
        max_length=300,
        help_text="The Dataverse environment to connect, as its address appears in the browser: "
        "https://<org>.crm.dynamics.com (Power Platform admin center > Environments > the environment).",
    )


@admin.register(DynamicsConnection)
class DynamicsConnectionAdmin(CrmConnectionAdmin):
    list_display = ["account", "organization", "state", "environment_url", "organization_name", "blocked"]
    search_fields = ["account__name", "environment_url", "organization_name", "org_id", "tenant_id"]
    readonly_fields = [
        "account",
        "state",
        "environment_url",
        "organization_name",
        "org_id",
        "tenant_id",
        "application_user_id",
        "webhook_shown",
        "limit_blocked_until",
        "last_error",
        "last_error_at",
        "connected_at",
        "connected_by",
        "last_refreshed_at",
    ]
    editable_fields = ["timeline_activity", "custom_activity_table", "opt_out_column"]
    change_form_template = "admin/dynamics/dynamicsconnection/change_form.html"
    crm_name = "Microsoft Dynamics 365"
    add_form = DynamicsConnectionAddForm
    connect_form = DynamicsConnectForm
    # Dynamics accounts without a connection yet (one per account).
    account_filter = {"kind": ProviderKind.DYNAMICS, "dynamics_connection__isnull": True}
    connect_errors = (CrmError,)

    def connect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if request.method != "POST":
            # The form starts from the environment the account is connected to (or names).
            connection = self._connection_or_404(request, object_id)
            form = self.connect_form(initial={"environment_url": environment_url(connection.account)})
            return self._page(request, connection, "connect.html", form=form, title=f"Connect {self.crm_name}:")
        return super().connect_view(request, object_id)

    def connect_start(self, request: HttpRequest, connection: DynamicsConnection, form: forms.Form) -> str:
        # The consenting tenant is confirmed by a sign-in there before it is used (confirm.py).
        options = {"environment_url": form.cleaned_data["environment_url"], "confirm_tenant": "1"}
        return oauth.authorize_url(connection.account, session=request.session, options=options)

    def disconnect(self, account: ProviderAccount) -> DynamicsConnection:
        return oauth.disconnect(account)

    def check_answered(self, identity: Identity) -> str:
        """Check asks WhoAmI as Leadline's application user."""
        name = f"{identity.org_name} ({identity.org_id})" if identity.org_name else identity.org_id
        return f"Dynamics 365 answered: environment {name}, application user {identity.user_id}."

    def extra_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [path("<int:object_id>/webhook/", wrap(self.webhook_view), name=f"{self.url_prefix}_webhook")]

    @method_decorator(never_cache)  # the page shows the secret
    def webhook_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The webhook registration's URL, header and secret; POST generates a new secret (the old one stops
        working at once)."""
        connection = self._connection_or_404(request, object_id)
        if request.method == "POST":
            webhook_secret_rotate(connection=connection)
            messages.success(
                request,
                "A new webhook secret is set; the old one no longer works. Give the new one to the webhook's "
                "registration in Dataverse (Plug-in Registration Tool > the webhook > Value).",
            )
        secret = connection.webhook_secret
        return self._page(
            request,
            connection,
            "webhook.html",
            title="Webhook of",
            webhook_url=webhook_url(),
            header_name=webhook_header(),
            secret=secret.reveal() if hasattr(secret, "reveal") else str(secret or ""),
        )

    @admin.display(description="webhook")
    def webhook_shown(self, obj: DynamicsConnection) -> str:
        state = "secret set" if obj.webhook_secret else "no secret yet: generate one on the webhook page"
        return f"POST {webhook_url()} with header {webhook_header()} ({state})"
