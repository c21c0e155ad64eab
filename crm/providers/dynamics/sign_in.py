""" "Sign in with Microsoft": Microsoft Entra ID tells us who is at the keyboard (OpenID Connect); the browser never
does. The CRM interface's sign-in class methods for the Dynamics 365 provider.

1. `sign_in_url` starts msal's authorization code flow (PKCE, nonce) for Leadline's multi-tenant app at the
   `organizations` authority with the sign-in scopes (DYNAMICS_SIGNIN_SCOPES: who the person is, no Dataverse
   access), carrying the state of every CRM flow (crm/oauth_state.py), marked a sign-in and bound to this browser.
   msal's flow (its PKCE verifier and nonce) stays on the server, in the cache under the state, for the state's
   life: the sign-in's browser mapping keeps only nonces.
2. Entra sends them back to /crm/oauth/callback; `sign_in_finish` claims the state, redeems the code with msal
   (which checks the state and the ID token's nonce) at the configured login host only, and reads the ID token's
   claims: the tenant (`tid`) and the person's object id (`oid`). Every token is dropped: nothing of the person's
   is kept.
3. The object id becomes the system user of a connected environment of that tenant (`systemusers` whose
   azureactivedirectoryobjectid is the oid, asked with that connection's application token), so the identity's
   org_id is the environment's organization id and user_id the system user id members are linked by. A tenant no
   organization has connected gives an identity without a user id: the caller says it is not connected.
4. `connection_for_identity`: the environment must be held by a connection of exactly one active organization
   (services.connection_for_environment).
Refusals are CrmAuthError whose `code` is a stable reason for the pages ("not_configured", "bad_request",
"bad_state", "crm_refused"); a Microsoft that does not answer is CrmUnavailable ("crm_unavailable").
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from typing import Any

import requests
import structlog

from django.core.cache import cache

from core import outbound
from crm import sign_in_flow
from crm.errors import CrmAuthError, CrmUnavailable
from crm.oauth_state import STATE_MAX_AGE
from crm.providers.dynamics import oauth, services
from crm.providers.dynamics.oauth import PROVIDER
from crm.records import Identity, SignIn
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

MODES = sign_in_flow.MODES
CRM_NAME = "Microsoft"
SIGN_IN_AUTHORITY = "organizations"  # work and school accounts of any tenant (a multi-tenant app)
MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})  # msal adds these itself
FLOW_CACHE_PREFIX = "dynamics:sign-in-flow:"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SYSTEMUSER_COLUMNS = "systemuserid,fullname,internalemailaddress,isdisabled,azureactivedirectoryobjectid"


def default_redirect_uri() -> str:
    """Where Entra sends a signing-in person back: the app's redirect URI, the one callback of every CRM flow."""
    return oauth.redirect_uri()


def _refused(message: str, reason: str) -> CrmAuthError:
    return sign_in_flow.refused(message, reason, kind=PROVIDER)


def _unavailable(message: str) -> CrmUnavailable:
    return sign_in_flow.unavailable(message, kind=PROVIDER)


def _flow_key(state: str) -> str:
    return FLOW_CACHE_PREFIX + hashlib.sha256(state.encode()).hexdigest()


def _scopes() -> list[str]:
    from crm.providers.dynamics.conf import dynamics_settings

    return [scope for scope in str(dynamics_settings.SIGNIN_SCOPES).split() if scope not in MSAL_RESERVED_SCOPES]


def _sign_in_app(http: requests.Session) -> Any:
    """Leadline's app at the organizations authority of the configured login host (never an account's)."""
    try:
        return oauth.msal_app(None, tenant=SIGN_IN_AUTHORITY, http=http)
    except outbound.OutboundRefused as exc:
        logger.warning("dynamics.sign_in.host_refused", reason=exc.message)
        raise _unavailable("Sign in with Microsoft is not available right now.") from exc
    except (requests.RequestException, ValueError) as exc:  # the authority's metadata could not be read
        logger.warning("dynamics.sign_in.authority_unread", reason=type(exc).__name__)
        raise _unavailable("Microsoft did not answer; try again in a minute.") from exc


def _starting_app(client_id: str, client_secret: str) -> Any:
    """The process's app that starts sign-ins (the token source's, read once per process: anyone may open the start
    page, so it must not fetch Entra's metadata each time). Starting stores no token; redeeming uses a fresh app,
    so nothing of a person stays in a shared cache."""
    from crm.providers.dynamics import tokens
    from crm.providers.dynamics.errors import DataverseError

    authority = f"{oauth.login_base(None)}/{SIGN_IN_AUTHORITY}"
    try:
        return tokens.confidential_client(authority=authority, client_id=client_id, client_secret=client_secret)
    except DataverseError as exc:
        logger.warning("dynamics.sign_in.authority_unread", reason=exc.code)
        raise _unavailable("Microsoft did not answer; try again in a minute.") from exc


# --- who this is -------------------------------------------------------------------------------------------------
def redeem(*, flow: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The ID token's claims for the callback (msal checks the state and nonce); every token is dropped."""
    http = oauth.http_session("dynamics-sign-in")
    app = _sign_in_app(http)
    try:
        result = app.acquire_token_by_auth_code_flow(dict(flow), {key: params[key] for key in params})
    except ValueError as exc:  # msal: the state does not match the flow
        raise _refused("This sign-in link is invalid or has expired; start again.", "bad_state") from exc
    except (requests.RequestException, outbound.OutboundRefused) as exc:
        raise _unavailable("Microsoft did not answer; try again in a minute.") from exc
    if "error" in result:
        error = oauth.msal_refusal(result, what="the sign-in")
        logger.info("dynamics.sign_in.code_refused", error=str(result.get("error")))
        raise _refused(f"Microsoft refused the sign-in ({error.message}); start again.", "crm_refused")
    claims = dict(result.get("id_token_claims") or {})
    client_id, _ = oauth.app_credentials()
    if claims.get("aud") != client_id:
        raise _refused("Microsoft did not say who you are; start again.", "crm_refused")
    return claims


def identify(claims: Mapping[str, Any]) -> Identity:
    """The identity of an ID token's person: their system user in a connected environment of their tenant."""
    tenant = str(claims.get("tid") or "").lower()
    object_id = str(claims.get("oid") or "").lower()
    if not GUID.match(tenant) or not GUID.match(object_id):
        logger.warning("dynamics.sign_in.identity_missing", tenant_found=bool(tenant), oid_found=bool(object_id))
        raise _refused("Microsoft did not say who you are; start again.", "crm_refused")
    email = str(claims.get("preferred_username") or claims.get("email") or "")
    name = str(claims.get("name") or "")
    connections = services.connections_of_tenant(tenant)
    if not connections:
        # No environment of this tenant is connected: an identity of the tenant only (the caller refuses it).
        return Identity(org_id=tenant, org_name="", user_email=email, user_name=name)
    found = [(connection, user) for connection in connections if (user := _system_user(connection, object_id))]
    if len(found) > 1:
        organizations = sorted({connection.organization_id for connection, _ in found})
        if len(organizations) > 1:
            logger.warning("dynamics.sign_in.several_environments", tenant_id=tenant, organization_ids=organizations)
            raise _refused(
                "You are a user of Dynamics 365 environments connected to several Leadline organizations; ask "
                "Leadline support which one to use.",
                "crm_refused",
            )
    if not found:
        first = connections[0]
        return Identity(org_id=first.org_id, org_name=first.organization_name, user_email=email, user_name=name)
    connection, user = found[0]
    return Identity(
        org_id=connection.org_id,
        org_name=connection.organization_name,
        user_id=str(user.get("systemuserid") or "").lower(),
        user_email=str(user.get("internalemailaddress") or email),
        user_name=str(user.get("fullname") or name),
        user_active=user.get("isdisabled") is not True,
    )


def _system_user(connection: Any, object_id: str) -> dict[str, Any]:
    """The environment's system user with this Entra object id ({} when there is none), asked as the
    connection's application user."""
    from crm.providers.dynamics import tokens
    from crm.providers.dynamics.errors import DataverseError, translate

    try:
        token = tokens.token_for(connection)
        http = oauth.http_session("dynamics-sign-in")
        response = oauth.api_get(
            http,
            environment=connection.environment_url,
            token=token,
            path="systemusers",
            params={"$filter": f"azureactivedirectoryobjectid eq {object_id}", "$select": SYSTEMUSER_COLUMNS},
        )
    except DataverseError as exc:
        error = translate(exc)
        logger.warning("dynamics.sign_in.users_unread", org_id=connection.org_id, reason=error.code)
        if isinstance(error, CrmUnavailable) or error.retryable:
            raise _unavailable("Microsoft did not say who you are; try again in a minute.") from exc
        raise _refused(
            "The environment's connection to Leadline cannot read its users; ask a manager to reconnect Dynamics 365.",
            "crm_refused",
        ) from exc
    except (requests.RequestException, outbound.OutboundRefused) as exc:
        raise _unavailable("Dynamics 365 did not answer; try again in a minute.") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise _unavailable("Dynamics 365 did not answer; try again in a minute.")
    if response.status_code != 200:
        logger.warning("dynamics.sign_in.users_refused", org_id=connection.org_id, status=response.status_code)
        raise _refused(
            "The environment's connection to Leadline cannot read its users; ask a manager to reconnect Dynamics 365.",
            "crm_refused",
        )
    try:
        rows = response.json().get("value") or []
    except (ValueError, AttributeError):
        rows = []
    return dict(rows[0]) if rows and isinstance(rows[0], dict) else {}


class DynamicsSignIn:
    """The sign-in class methods of the CRM interface (Capability.SIGN_IN), mixed into the Dynamics provider."""

    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        client_id, client_secret = oauth.app_credentials()
        redirect_to = redirect_uri or default_redirect_uri()
        state = sign_in_flow.sign_in_state(
            session=session,
            kind=PROVIDER,
            crm_name=CRM_NAME,
            configured=bool(client_id and client_secret),
            mode=mode,
            redirect_to=redirect_to,
        )
        app = _starting_app(client_id, client_secret)
        with warnings.catch_warnings():
            # msal recommends form_post; every CRM's one callback is a GET, and the code is PKCE-bound, single use.
            warnings.filterwarnings("ignore", message="response_mode='form_post'", category=UserWarning)
            flow = app.initiate_auth_code_flow(scopes=_scopes(), redirect_uri=redirect_to, state=state)
        cache.set(_flow_key(state), flow, timeout=STATE_MAX_AGE)
        return str(flow["auth_uri"])

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        callback = sign_in_flow.sign_in_callback(
            params=params, session=session, kind=PROVIDER, crm_name=CRM_NAME, default_redirect=default_redirect_uri()
        )
        flow = cache.get(_flow_key(callback.state))
        cache.delete(_flow_key(callback.state))  # single use, like the state
        if not flow:
            raise _refused("This sign-in has expired; start again.", "bad_state")
        if not callback.code:
            raise _refused("Microsoft sent no authorization code; start again.", "crm_refused")
        identity = identify(redeem(flow=flow, params=params))
        return SignIn(identity=identity, mode=callback.mode)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> ProviderAccount | None:
        """The Dynamics account whose connection holds the identity's environment, of exactly one active
        organization."""
        return services.connection_for_environment(identity.org_id)


def sign_in_url(*_provider: Any, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
    """As DynamicsSignIn.sign_in_url (the provider may pass itself first)."""
    return DynamicsSignIn.sign_in_url(session=session, mode=mode, redirect_uri=redirect_uri)


def sign_in_finish(*_provider: Any, params: Mapping[str, str], session: Any) -> SignIn:
    """As DynamicsSignIn.sign_in_finish (the provider may pass itself first)."""
    return DynamicsSignIn.sign_in_finish(params=params, session=session)


def connection_for_identity(*args: Any, identity: Identity | None = None) -> ProviderAccount | None:
    """As DynamicsSignIn.connection_for_identity; the identity by keyword or as the last positional argument
    (the provider may pass itself first)."""
    identity = identity if identity is not None else next(arg for arg in reversed(args) if isinstance(arg, Identity))
    return DynamicsSignIn.connection_for_identity(identity=identity)
