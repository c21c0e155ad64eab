"""The end of "Connect Zoho": Zoho sends the manager back with a grant code, to /zoho/oauth/callback/ (the redirect
URI customers registered) or to /crm/oauth/callback, which hands a connect's state to this view (its name is in
the state: oauth.CONNECT_FINISH)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.exceptions import ApplicationError
from crm.admin_connection import managed_account_or_404
from crm.providers.zoho import oauth
from crm.providers.zoho.services import connection_for_account


@require_GET
@login_required(login_url="admin:login")
@transaction.non_atomic_requests  # the code exchange calls Zoho: no transaction may be open around it
def oauth_callback(request: HttpRequest) -> HttpResponse:
    try:
        account_id = oauth.state_account_id(state=request.GET.get("state", ""), session=request.session)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("admin:zoho_zohoconnection_changelist")
    account = managed_account_or_404(request, account_id, kinds=("zoho_crm", "zoho_voice"), crm_name="Zoho")
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
