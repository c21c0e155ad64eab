"""The connect's second hop: whoever connects signs in with Microsoft in the tenant that consented, so the tenant a
connection stores is the one an ID token names, not the browser's word.

Entra's redirect after admin consent is not signed: its `tenant` could be typed. A tenant that never consented gets
no token anyway, but a manager could otherwise name another customer's tenant and environment that consented to
Leadline's app (and has its application user) while no organization holds it. With `confirm_tenant` in the
connect's options (the admin's Connect page sets it):

1. `consent_continue` takes the consent callback: the state is claimed (this browser's, once), a denial or a
   missing tenant is shown, and the person is sent to Entra's sign-in at that tenant's authority (msal's
   authorization code flow, PKCE and a nonce; the flow kept server-side under the new state, which carries the
   environment and the tenant, signed);
2. Entra sends them back to the one CRM callback; oauth.connect_finish sees the state's `confirm` step,
   `confirmed_tenant` redeems the code (msal checks the state and the nonce) and requires the ID token's `tid` to
   be the consenting tenant and its audience the app, and the connect goes on as after a consent (token, WhoAmI).
Every token of the person is dropped; only the tenant's word is used.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from typing import Any

import requests
import structlog

from django.core.cache import cache

from core import outbound
from crm.errors import CrmAuthError, CrmUnavailable
from crm.oauth_state import STATE_MAX_AGE, Flow, state_issue, state_read
from crm.providers.dynamics import oauth
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

STEP = "confirm"
FLOW_CACHE_PREFIX = "dynamics:connect-confirm-flow:"


def _flow_key(state: str) -> str:
    return FLOW_CACHE_PREFIX + hashlib.sha256(state.encode()).hexdigest()


def _app(account: ProviderAccount, tenant: str, http: requests.Session) -> Any:
    try:
        return oauth.msal_app(account, tenant=tenant, http=http)
    except outbound.OutboundRefused as exc:
        raise CrmAuthError(exc.message, provider=oauth.PROVIDER, code="host_refused") from exc
    except (requests.RequestException, ValueError) as exc:  # the authority's metadata could not be read
        raise CrmUnavailable(
            f"Microsoft did not answer the sign-in ({type(exc).__name__}); try again in a minute.",
            provider=oauth.PROVIDER,
        ) from exc


def consent_continue(account: ProviderAccount, *, params: Mapping[str, str], session: Any) -> str:
    """The URL to send the person to after the tenant's consent (Entra's sign-in at that tenant), or "" when this
    callback is no consent awaiting confirmation (oauth.connect_finish takes it). Refusals as connect_finish's."""
    try:
        issued = state_read(state=str(params.get("state") or ""))
    except CrmAuthError:
        return ""
    if not issued.data.get("confirm_tenant") or issued.data.get("step") == STEP:
        return ""
    data = oauth.FLOW.state_claim(state=str(params.get("state") or ""), session=session, account=account)
    tenant = oauth.consented_tenant(account, params)
    state = state_issue(
        session=session,
        kind=oauth.PROVIDER,
        flow=Flow.CONNECT,
        finish=oauth.CONNECT_FINISH,
        account=account.pk,
        environment=str(data.get("environment") or ""),
        tenant=tenant,
        step=STEP,
    )
    try:
        app = _app(account, tenant, oauth.http_session("dynamics-connect"))
    except (CrmAuthError, CrmUnavailable) as exc:
        raise oauth.FLOW.failed(account, exc) from exc
    with warnings.catch_warnings():
        # msal recommends form_post; every CRM's one callback is a GET, and the code is PKCE-bound, single use.
        warnings.filterwarnings("ignore", message="response_mode='form_post'", category=UserWarning)
        flow = app.initiate_auth_code_flow(scopes=[], redirect_uri=oauth.redirect_uri(), state=state)
    cache.set(_flow_key(state), flow, timeout=STATE_MAX_AGE)
    logger.info("dynamics.connection.consented", account_id=account.pk, tenant_id=tenant)
    return str(flow["auth_uri"])


def confirmed_tenant(account: ProviderAccount, *, issued: Mapping[str, Any], params: Mapping[str, str]) -> str:
    """The consenting tenant (the state's), once the person's ID token says they signed in there. CrmAuthError
    otherwise (shown on the connection by the caller)."""
    tenant = str(issued.get("tenant") or "")
    state = str(params.get("state") or "")
    flow = cache.get(_flow_key(state))
    cache.delete(_flow_key(state))  # single use, like the state
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise CrmAuthError(f"The sign-in to confirm the tenant did not complete: {detail}", code="denied")
    if not flow:
        raise CrmAuthError("This connection's sign-in has expired; connect again.", code="bad_state")
    app = _app(account, tenant, oauth.http_session("dynamics-connect"))
    try:
        result = app.acquire_token_by_auth_code_flow(dict(flow), {key: params[key] for key in params})
    except ValueError as exc:  # msal: the state does not match the flow
        raise CrmAuthError("This connection's sign-in is invalid; connect again.", code="bad_state") from exc
    except (requests.RequestException, outbound.OutboundRefused) as exc:
        raise CrmUnavailable("Microsoft did not answer the sign-in; try again in a minute.") from exc
    if "error" in result:
        raise oauth.msal_refusal(result, what="the sign-in")
    claims = dict(result.get("id_token_claims") or {})
    client_id, _ = oauth.app_credentials(account)
    if str(claims.get("tid") or "").lower() != tenant or claims.get("aud") != client_id:
        logger.warning("dynamics.connection.tenant_unconfirmed", account_id=account.pk, tenant_id=tenant)
        raise CrmAuthError(
            "You signed in to another Microsoft Entra tenant than the one that granted consent; connect again and "
            "sign in with an account of the environment's tenant.",
            code="tenant_mismatch",
        )
    return tenant
