"""The end of "Connect HubSpot": HubSpot sends the manager back to /crm/oauth/callback (the app's redirect URL),
which hands a connect's state to this view (its name is in the state: oauth.CONNECT_FINISH); it also answers at
/hubspot/oauth/callback/ for an app registered with that URL."""

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
from crm.providers.hubspot import oauth
from crm.providers.hubspot.services import connection_for_account
from studios.models import ProviderKind

CHANGELIST = "admin:hubspot_hubspotconnection_changelist"


@require_GET
@login_required(login_url="admin:login")
@transaction.non_atomic_requests  # the code exchange calls HubSpot: no transaction may be open around it
def oauth_callback(request: HttpRequest) -> HttpResponse:
    try:
        # Which account, to check who may finish it; finish_connect claims the state (this browser's, once).
        issued = state_read(state=request.GET.get("state", ""))
        if issued.kind != oauth.PROVIDER or issued.flow != Flow.CONNECT or "account" not in issued.data:
            raise CrmError("This HubSpot sign-in link is not a connection's; start again.")
        account_id = int(issued.data["account"])
    except (CrmError, TypeError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "This HubSpot sign-in link is invalid; start again."))
        return redirect(CHANGELIST)
    account = managed_account_or_404(request, account_id, kinds=(ProviderKind.HUBSPOT,), crm_name="HubSpot")
    target = reverse("admin:hubspot_hubspotconnection_change", args=[connection_for_account(account=account).pk])
    try:
        identity = oauth.finish_connect(
            account, params=request.GET, session=request.session, connected_by=request.user.email
        )
    except CrmError as exc:
        messages.error(request, exc.message)
        return redirect(target)
    portal = f"{identity.org_name} ({identity.org_id})" if identity.org_name else identity.org_id
    who = identity.user_email or identity.user_id
    messages.success(request, f"{account.name} is connected to the HubSpot portal {portal} as {who}.")
    if not identity.user_id:
        messages.warning(
            request,
            f"HubSpot has no owner for {who}, so no member can be matched to it; members are linked by owner id.",
        )
    return redirect(target)
