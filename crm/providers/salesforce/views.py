"""The end of "Connect Salesforce": Salesforce sends the manager back to /crm/oauth/callback (the connected app's
callback URL), which hands a connect's state to this view (its name is in the state: oauth.CONNECT_FINISH); it
also answers at /salesforce/oauth/callback/ for a connected app registered with that URL."""

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
from crm.providers.salesforce import oauth
from crm.providers.salesforce.services import connection_for_account
from studios.models import ProviderKind

CHANGELIST = "admin:salesforce_salesforceconnection_changelist"


@require_GET
@login_required(login_url="admin:login")
@transaction.non_atomic_requests  # the code exchange calls Salesforce: no transaction may be open around it
def oauth_callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    try:
        # Which account, to check who may finish it; connect_finish claims the state (this browser's, once).
        issued = state_read(state=state)
        if issued.kind != oauth.PROVIDER or issued.flow != Flow.CONNECT or "account" not in issued.data:
            raise CrmError("This Salesforce sign-in link is not a connection's; start again.")
        account_id = int(issued.data["account"])
    except (CrmError, TypeError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "This Salesforce sign-in link is invalid; start again."))
        return redirect(CHANGELIST)
    account = managed_account_or_404(request, account_id, kinds=(ProviderKind.SALESFORCE,), crm_name="Salesforce")
    connection = connection_for_account(account=account)
    target = reverse("admin:salesforce_salesforceconnection_change", args=[connection.pk])
    try:
        identity = oauth.connect_finish(
            account, params=request.GET, session=request.session, connected_by=request.user.email
        )
    except CrmError as exc:
        messages.error(request, exc.message)
        return redirect(target)
    who = identity.user_email or identity.user_name or identity.user_id
    messages.success(request, f"{account.name} is connected to Salesforce org {identity.org_id} as {who}.")
    return redirect(target)
