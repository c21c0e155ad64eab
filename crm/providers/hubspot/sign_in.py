""" "Sign in with HubSpot": HubSpot tells us who is at the keyboard; the browser never does (docs/vendors/hubspot.md,
Auth). The CRM interface's sign-in class methods for the HubSpot provider.

1. `sign_in_url` sends the person to HubSpot's consent page for Leadline's public app with the least scopes
   (HUBSPOT_SIGNIN_SCOPES, `oauth`: no CRM data) and the state of every CRM flow (crm/oauth_state.py), marked a
   sign-in and bound to this browser. HubSpot asks them which portal (when they have several).
2. HubSpot sends them back to /crm/oauth/callback; `sign_in_finish` claims the state, exchanges the code at the
   configured API host only (HUBSPOT_API_URL: the client secret goes nowhere a URL could name), and reads the
   access token's info: the portal (hub_id) and the user (id and e-mail). The refresh token is revoked at once:
   nothing of the user's is kept.
3. The user becomes the owner id their records carry through the connection that holds the portal (its token
   has the owners scope; the sign-in's has none), so the identity's user_id is the id members are linked by. A
   portal no organization has connected gives an identity without a user id: the caller says it is not connected.
4. `connection_for_identity`: the portal must be held by a connection of exactly one active organization
   (services.connection_for_hub).
Refusals are CrmAuthError whose `code` is a stable reason for the pages ("not_configured", "bad_request",
"bad_state", "crm_refused"); a HubSpot that does not answer is CrmUnavailable ("crm_unavailable").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from django.conf import settings

from crm import sign_in_flow
from crm.errors import CrmAuthError, CrmError, CrmUnavailable
from crm.providers.hubspot import oauth, services
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import PROVIDER
from crm.records import Identity, Priority, SignIn
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

MODES = sign_in_flow.MODES


def default_redirect_uri() -> str:
    """Where HubSpot sends a signing-in person back: the app's redirect URL, the one callback of every CRM flow."""
    return hubspot_settings.OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def _refused(message: str, reason: str) -> CrmAuthError:
    return sign_in_flow.refused(message, reason, kind=PROVIDER)


def _unavailable(message: str) -> CrmUnavailable:
    return sign_in_flow.unavailable(message, kind=PROVIDER)


def identify(*, code: str, redirect_to: str) -> Identity:
    """Exchange the code, ask HubSpot who this is, forget the token, and name the user by their owner id."""
    client_id, client_secret = oauth.app_credentials()
    base = oauth.api_base()
    http = oauth.http_session("hubspot-sign-in")
    try:
        answer = oauth.code_exchange(
            http=http,
            base=base,
            client_id=client_id,
            client_secret=client_secret,
            redirect_to=redirect_to,
            code=code,
        )
    except CrmUnavailable as exc:
        raise _unavailable("HubSpot did not answer; try again in a minute.") from exc
    except CrmAuthError as exc:
        raise _refused(exc.message, "crm_refused") from exc
    except CrmError as exc:  # the API host was refused by the outbound guard: a configuration problem
        logger.warning("hubspot.sign_in.host_refused", reason=exc.message)
        raise _unavailable("Sign in with HubSpot is not available right now.") from exc
    try:
        info = oauth.token_info(http=http, base=base, access_token=answer.access_token)
    except CrmUnavailable as exc:
        raise _unavailable("HubSpot did not say who you are; try again in a minute.") from exc
    except CrmError as exc:
        raise _refused("HubSpot did not say who you are; start again.", "crm_refused") from exc
    finally:
        # Nothing of the user's outlives the sign-in (revoking the refresh token ends its access tokens).
        oauth.token_revoke(http=http, base=base, refresh_token=answer.refresh_token, flow="sign_in")
    if not info.hub_id or not info.user_id:
        logger.warning("hubspot.sign_in.identity_missing", hub_found=bool(info.hub_id))
        raise _refused("HubSpot did not say who you are; start again.", "crm_refused")
    return oauth.owner_identity(info, _owner(info))


def _owner(info: oauth.TokenInfo) -> dict[str, Any]:
    """The user's owner record, asked with the token of the connection holding the portal ({} when no
    organization holds it, or the user owns nothing there)."""
    account = services.connection_for_hub(info.hub_id)
    if account is None:
        return {}
    from crm.providers.hubspot.client import client_for
    from crm.providers.hubspot.errors import HubSpotError, HubSpotNotFound, translate

    try:
        # A person is waiting: the interactive share of the portal's allowance.
        owner = client_for(account, priority=Priority.INTERACTIVE).owner_by_user_id(info.user_id)
    except HubSpotNotFound:
        return {}
    except HubSpotError as exc:
        error = translate(exc)
        logger.warning("hubspot.sign_in.owner_unread", hub_id=info.hub_id, reason=error.code)
        if isinstance(error, CrmUnavailable) or error.retryable:
            raise _unavailable("HubSpot did not say who you are; try again in a minute.") from exc
        raise _refused(
            "The portal's connection to Leadline cannot read its users; ask a manager to reconnect HubSpot.",
            "crm_refused",
        ) from exc
    return dict(owner or {})


class HubSpotSignIn:
    """The sign-in class methods of the CRM interface (Capability.SIGN_IN), mixed into the HubSpot provider."""

    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        client_id, client_secret = oauth.app_credentials()
        redirect_to = redirect_uri or default_redirect_uri()
        state = sign_in_flow.sign_in_state(
            session=session,
            kind=PROVIDER,
            crm_name="HubSpot",
            configured=bool(client_id and client_secret),
            mode=mode,
            redirect_to=redirect_to,
        )
        return oauth.consent_url(
            base=oauth.app_base(),
            client_id=client_id,
            redirect_to=redirect_to,
            scopes=hubspot_settings.SIGNIN_SCOPES,
            state=state,
        )

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        callback = sign_in_flow.sign_in_callback(
            params=params, session=session, kind=PROVIDER, crm_name="HubSpot", default_redirect=default_redirect_uri()
        )
        identity = identify(code=callback.code, redirect_to=callback.redirect_to)
        return SignIn(identity=identity, mode=callback.mode)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> ProviderAccount | None:
        """The HubSpot account whose connection holds the identity's portal, of exactly one active organization."""
        return services.connection_for_hub(identity.org_id)


# The same, as module functions (the provider's class methods call these).
sign_in_url = HubSpotSignIn.sign_in_url
sign_in_finish = HubSpotSignIn.sign_in_finish
connection_for_identity = HubSpotSignIn.connection_for_identity
