"""The end of "Connect Dynamics 365": Entra sends the administrator back to /crm/oauth/callback (the app's redirect
URI) after admin consent, which hands a connect's state to this view (its name is in the state:
oauth.CONNECT_FINISH); it also answers at /dynamics/oauth/callback/ for an app registered with that URI."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from crm.admin_connection import managed_account_or_404
from crm.errors import CrmError
from crm.oauth_state import Flow, state_read
from crm.providers.dynamics import confirm, oauth
from crm.providers.dynamics.services import connection_for_account
from studios.models import ProviderKind

CHANGELIST = "admin:dynamics_dynamicsconnection_changelist"


@require_GET
@login_required(login_url="admin:login")
@transaction.non_atomic_requests  # the token and WhoAmI calls go to Microsoft: no transaction may be open around them
def oauth_callback(request: HttpRequest) -> HttpResponse:
    try:
        # Which account, to check who may finish it; connect_finish claims the state (this browser's, once).
        issued = state_read(state=request.GET.get("state", ""))
        if issued.kind != oauth.PROVIDER or issued.flow != Flow.CONNECT or "account" not in issued.data:
            raise CrmError("This Microsoft sign-in link is not a connection's; start again.")
        account_id = int(issued.data["account"])
    except (CrmError, TypeError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "This Microsoft sign-in link is invalid; start again."))
        return redirect(CHANGELIST)
    account = managed_account_or_404(request, account_id, kinds=(ProviderKind.DYNAMICS,), crm_name=oauth.CRM_NAME)
    target = reverse("admin:dynamics_dynamicsconnection_change", args=[connection_for_account(account=account).pk])
    try:
        # After the consent, a sign-in in the consenting tenant confirms it (confirm.py); then the connect ends.
        confirm_url = confirm.consent_continue(account, params=request.GET, session=request.session)
        if confirm_url:
            return redirect(confirm_url)
        identity = oauth.connect_finish(
            account, params=request.GET, session=request.session, connected_by=request.user.email
        )
    except CrmError as exc:
        messages.error(request, exc.message)
        return redirect(target)
    environment = f"{identity.org_name} ({identity.org_id})" if identity.org_name else identity.org_id
    messages.success(
        request,
        f"{account.name} is connected to the Dynamics 365 environment {environment}; Leadline's application user "
        f"is {identity.user_id}. Register the webhook shown below for new leads.",
    )
    return redirect(target)
