"""The end of "Connect Zoho": Zoho sends the manager back with a grant code, to /zoho/oauth/callback/ (the redirect
URI customers registered) or to /crm/oauth/callback, which hands a connect's state to this view (its name is in
the state: oauth.CONNECT_FINISH)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.admin_site import is_operator, request_manager
from core.exceptions import ApplicationError
from crm.providers.zoho import oauth
from crm.providers.zoho.services import connection_for_account
from studios.models import ProviderAccount


def account_for_request(request: HttpRequest, account_id: int) -> ProviderAccount:
    """The Zoho account if the signed-in person may manage it (an operator, or a manager of its organization);
    otherwise "not found", the same answer as for an account that does not exist."""
    accounts = ProviderAccount.objects.filter(kind__in=("zoho_crm", "zoho_voice"))
    scoped = accounts.unscoped() if is_operator(request) else accounts.visible_to(request_manager(request))
    account = scoped.filter(pk=account_id).first()
    if account is None:
        raise Http404("No such Zoho account")
    return account


@require_GET
@login_required(login_url="admin:login")
@transaction.non_atomic_requests  # the code exchange calls Zoho: no transaction may be open around it
def oauth_callback(request: HttpRequest) -> HttpResponse:
    try:
        account_id = oauth.state_account_id(state=request.GET.get("state", ""), session=request.session)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("admin:zoho_zohoconnection_changelist")
    account = account_for_request(request, account_id)
    connection = connection_for_account(account=account)
    target = reverse("admin:zoho_zohoconnection_change", args=[connection.pk])
    if request.GET.get("error"):
        oauth.connect_refused(account=account, error=request.GET["error"])
        messages.error(request, f"Zoho sign-in did not complete: {request.GET['error']}.")
        return redirect(target)
    try:
        connection = oauth.connect_finish(
            account=account,
            code=request.GET.get("code", ""),
            accounts_server=request.GET.get("accounts-server", ""),
            location=request.GET.get("location", ""),
            connected_by=request.user.email,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(target)
    who = connection.zoho_user_email or "Zoho"
    messages.success(request, f"{account.name} is connected to Zoho as {who}.")
    return redirect(target)
