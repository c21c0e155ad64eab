"""The managers' admin of a CRM connection, common to every CRM provider: the add form (an account of the same
organization, one connection per account), the read-only page of a connection, and its Connect / Reconnect and
Disconnect pages. A provider's admin names its fields, its connect form and how to start a connect and disconnect;
its templates live at admin/<app label>/<model name>/ (change_form.html, connect.html, disconnect.html). Check
asks the CRM who the connection is (the provider's identity()); "blocked until" shows an API limit's block."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator

from core.admin import TenantModelAdmin
from core.admin_site import is_operator, request_manager
from crm.connection_state import CrmConnection
from crm.errors import CrmError
from crm.records import Identity, Priority
from studios.models import ProviderAccount


def managed_account_or_404(
    request: HttpRequest, account_id: int, *, kinds: tuple[str, ...], crm_name: str
) -> ProviderAccount:
    """The CRM account (of one of `kinds`) if the signed-in person may manage it (an operator, or a manager of its
    organization); otherwise "not found", the same answer as for an account that does not exist."""
    accounts = ProviderAccount.objects.filter(kind__in=kinds)
    scoped = accounts.unscoped() if is_operator(request) else accounts.visible_to(request_manager(request))
    account = scoped.filter(pk=account_id).first()
    if account is None:
        raise Http404(f"No such {crm_name} account")
    return account


class CrmConnectionAddForm(forms.ModelForm):
    """A provider's add form (its Meta names the model and fields): the account must be the organization's."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        account, organization = cleaned.get("account"), cleaned.get("organization")
        if account and organization and account.organization_id != organization.pk:
            self.add_error("account", "The account belongs to another organization.")
        return cleaned


class CrmConnectionAdmin(TenantModelAdmin):
    """Base of a provider's connection admin (not registered itself)."""

    crm_name: ClassVar[str] = ""  # the vendor as people read it, in titles and messages
    add_form: ClassVar[type[forms.ModelForm]] = CrmConnectionAddForm
    connect_form: ClassVar[type[forms.Form]] = forms.Form
    editable_fields: ClassVar[list[str]] = []  # fields a manager may change after adding (besides the read-only)
    account_filter: ClassVar[dict[str, Any]] = {}  # the accounts the add form offers: the CRM's, not connected yet
    connect_errors: ClassVar[tuple[type[Exception], ...]] = ()  # errors shown on the connect page as messages

    list_filter = ["state", "organization"]
    actions = None

    # Provided by each provider's admin.
    def connect_start(self, request: HttpRequest, connection: CrmConnection, form: forms.Form) -> str:
        """The vendor's consent URL to send the manager to; raises one of `connect_errors` with a message."""
        raise NotImplementedError

    def disconnect(self, account: ProviderAccount) -> CrmConnection:
        """Revoke the token at the vendor and forget it; the connection's last_error says what did not work."""
        raise NotImplementedError

    def extra_urls(self) -> list[URLPattern]:
        """The provider's own pages of a connection, besides connect, check and disconnect."""
        return []

    def check_answered(self, identity: Identity) -> str:
        """What Check says when the CRM answered as the connection."""
        return f"{self.crm_name} answered: org {identity.org_id}, user {identity.user_email or identity.user_id}."

    # --- the pages -----------------------------------------------------------------------------------------------
    @property
    def url_prefix(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "account")

    def get_form(self, request: HttpRequest, obj: CrmConnection | None = None, **kwargs: Any):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: CrmConnection | None = None):
        if obj is None:
            return ["organization", "account", *self.editable_fields]
        return ["organization", *self.readonly_fields, *self.editable_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: CrmConnection | None = None):
        return ["organization", *self.readonly_fields] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "account":
            field.queryset = field.queryset.filter(**self.account_filter)
        return field

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:object_id>/connect/", wrap(self.connect_view), name=f"{self.url_prefix}_connect"),
            path("<int:object_id>/check/", wrap(self.check_view), name=f"{self.url_prefix}_check"),
            *self.extra_urls(),
            path("<int:object_id>/disconnect/", wrap(self.disconnect_view), name=f"{self.url_prefix}_disconnect"),
            *super().get_urls(),
        ]

    def _connection_or_404(self, request: HttpRequest, object_id: int) -> CrmConnection:
        connection = self.get_queryset(request).filter(pk=object_id).first()
        if connection is None:
            raise Http404(f"No such {self.crm_name} connection")
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        return connection

    def _page(self, request: HttpRequest, connection: CrmConnection, template: str, **context: Any):
        context.update(
            self.admin_site.each_context(request),
            opts=self.opts,
            original=connection,
            title=f"{context.get('title', '')} {connection.account.name}",
        )
        return TemplateResponse(request, f"admin/{self.opts.app_label}/{self.opts.model_name}/{template}", context)

    def _change_page(self, connection: CrmConnection) -> HttpResponse:
        return redirect(reverse(f"admin:{self.url_prefix}_change", args=[connection.pk]))

    @method_decorator(transaction.non_atomic_requests)
    def connect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        form = self.connect_form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                url = self.connect_start(request, connection, form)
            except self.connect_errors as exc:
                messages.error(request, exc.message)
            else:
                return redirect(url)
        return self._page(request, connection, "connect.html", form=form, title=f"Connect {self.crm_name}:")

    @method_decorator(transaction.non_atomic_requests)  # revoking calls the CRM: no transaction around it
    def disconnect_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        connection = self._connection_or_404(request, object_id)
        if request.method == "POST":
            connection = self.disconnect(connection.account)
            if connection.last_error:
                messages.warning(request, f"Disconnected here, but: {connection.last_error}")
            else:
                messages.success(
                    request, f"{connection.account.name} is disconnected; {self.crm_name} revoked the token."
                )
            return self._change_page(connection)
        return self._page(request, connection, "disconnect.html", title=f"Disconnect {self.crm_name}:")

    @method_decorator(transaction.non_atomic_requests)  # asks the CRM: no transaction around it
    def check_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Whether the CRM answers as this connection now (a person is waiting: the interactive share)."""
        from crm.registry import provider_for

        connection = self._connection_or_404(request, object_id)
        if request.method == "POST":
            try:
                identity = provider_for(connection.account, priority=Priority.INTERACTIVE).identity()
            except CrmError as exc:
                messages.error(request, f"{self.crm_name} did not answer as this connection: {exc.message}")
            else:
                messages.success(request, self.check_answered(identity))
        return self._change_page(connection)

    @admin.display(description="blocked until")
    def blocked(self, obj: CrmConnection) -> str:
        """Until when background work waits for the CRM's API limit ("" when it does not)."""
        until = getattr(obj, "limit_blocked_until", None)
        if until and until > timezone.now():
            return timezone.localtime(until).strftime("%Y-%m-%d %H:%M")
        return ""
