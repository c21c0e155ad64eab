""" "Sign in with Salesforce": Salesforce tells us who is at the keyboard; the browser never does
(docs/vendors/salesforce.md, Identity). The CRM interface's sign-in class methods for the Salesforce provider.

1. `sign_in_url` sends the person to Leadline's own app (SALESFORCE_SIGNIN_CLIENT_ID) at the sign-in login host
   with the OpenID scopes only (`openid id`: no API access, no refresh token), a PKCE challenge and the state of
   every CRM flow (crm/oauth_state.py), marked a sign-in and bound to this browser.
2. Salesforce sends them back to /crm/oauth/callback; `sign_in_finish` claims the state and exchanges the code at
   the configured login host only (a Salesforce login host, or the operator's), checking the answer's signature.
3. With the access token it asks userinfo who this is (organization_id, user_id, e-mail, name, active), checks the
   ids against the signed identity URL, and revokes the token: nothing of the user's is kept.
4. `connection_for_identity`: the Salesforce org must be held by a connection (SalesforceConnection.sf_org_id,
   one claim per org) of exactly one active organization. Who the member is (studios.MemberCrmUser on that
   connection, by the 18-character user id) is the caller's business (identity/).
Refusals are CrmAuthError whose `code` is a stable reason for the pages ("not_configured", "bad_request",
"bad_state", "crm_refused"); a Salesforce that does not answer is CrmUnavailable ("crm_unavailable").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
import structlog

from django.conf import settings

from core import outbound
from crm import sign_in_flow
from crm.errors import CrmAuthError, CrmError, CrmUnavailable
from crm.providers.salesforce import ids, oauth, oauth_flow, services
from crm.providers.salesforce.conf import salesforce_settings
from crm.records import Identity, SignIn
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

SCOPES = ("openid", "id")
MODES = sign_in_flow.MODES


def default_redirect_uri() -> str:
    """Where Salesforce sends a signing-in person back: SALESFORCE_SIGNIN_REDIRECT_URI as registered on Leadline's
    app, else the one callback of every CRM flow."""
    return salesforce_settings.SIGNIN_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def _refused(message: str, reason: str) -> CrmAuthError:
    return sign_in_flow.refused(message, reason, kind=oauth.PROVIDER)


def _unavailable(message: str) -> CrmUnavailable:
    return sign_in_flow.unavailable(message, kind=oauth.PROVIDER)


def login_host() -> str:
    """The sign-in login host: SALESFORCE_SIGNIN_LOGIN_URL, an operator's setting, so trusted as configured (it
    must still be a plain origin)."""
    origin = outbound.origin_of(salesforce_settings.SIGNIN_LOGIN_URL or "")
    if not origin:
        raise _refused("Sign in with Salesforce is not configured on this server (login host).", "not_configured")
    return origin


def identify(*, code: str, state: str, redirect_to: str) -> Identity:
    """Exchange the code, ask Salesforce who this is, and forget the token."""
    login = login_host()
    http = oauth_flow.http_session("salesforce-sign-in")
    try:
        answer = oauth_flow.code_exchange(
            http=http,
            login=login,
            client_id=salesforce_settings.SIGNIN_CLIENT_ID,
            client_secret=salesforce_settings.SIGNIN_CLIENT_SECRET,
            redirect_to=redirect_to,
            code=code,
            state=state,
        )
    except CrmUnavailable as exc:
        raise _unavailable("Salesforce did not answer; try again in a minute.") from exc
    except CrmAuthError as exc:
        raise _refused(exc.message, "crm_refused") from exc
    except CrmError as exc:  # the login host was refused by the outbound guard: a configuration problem
        logger.warning("salesforce.sign_in.login_host_refused", login=login, reason=exc.message)
        raise _unavailable("Sign in with Salesforce is not available right now.") from exc
    try:
        return _who(http, login, answer)
    finally:
        # Nothing of the user's outlives the sign-in: a refresh token (should one come) ends its sessions too.
        oauth_flow.token_revoke(
            http=http, login=login, token=answer.refresh_token or answer.access_token, flow="sign_in"
        )


def _who(http: requests.Session, login: str, answer: oauth_flow.TokenAnswer) -> Identity:
    """userinfo, asked with the sign-in's access token at the login host; its ids must be the signed answer's."""
    try:
        userinfo = oauth_flow.userinfo_read(http=http, host=login, access_token=answer.access_token)
    except outbound.OutboundRefused as exc:
        logger.warning("salesforce.sign_in.login_host_refused", login=login, reason=exc.message)
        raise _unavailable("Sign in with Salesforce is not available right now.") from exc
    except (requests.RequestException, ValueError) as exc:
        raise _unavailable("Salesforce did not say who you are; try again in a minute.") from exc
    identity = oauth_flow.identity_from(userinfo, identity_url=answer.identity_url)
    signed_org, signed_user = ids.ids_from_identity_url(answer.identity_url)
    if not userinfo or not identity.org_id or not identity.user_id:
        logger.warning("salesforce.sign_in.identity_missing", userinfo_found=bool(userinfo))
        raise _refused("Salesforce did not say who you are; start again.", "crm_refused")
    if signed_org and (identity.org_id, identity.user_id) != (signed_org, signed_user):
        logger.warning("salesforce.sign_in.identity_mismatch")
        raise _refused("Salesforce's answer did not agree with itself; start again.", "crm_refused")
    return identity


class SalesforceSignIn:
    """The sign-in class methods of the CRM interface (Capability.SIGN_IN), mixed into the Salesforce provider."""

    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        redirect_to = redirect_uri or default_redirect_uri()
        state = sign_in_flow.sign_in_state(
            session=session,
            kind=oauth.PROVIDER,
            crm_name="Salesforce",
            configured=bool(salesforce_settings.SIGNIN_CLIENT_ID and salesforce_settings.SIGNIN_CLIENT_SECRET),
            mode=mode,
            redirect_to=redirect_to,
        )
        return oauth_flow.authorize_url_for(
            login=login_host(),
            client_id=salesforce_settings.SIGNIN_CLIENT_ID,
            redirect_to=redirect_to,
            scopes=SCOPES,
            state=state,
        )

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        callback = sign_in_flow.sign_in_callback(
            params=params,
            session=session,
            kind=oauth.PROVIDER,
            crm_name="Salesforce",
            default_redirect=default_redirect_uri(),
        )
        identity = identify(code=callback.code, state=callback.state, redirect_to=callback.redirect_to)
        return SignIn(identity=identity, mode=callback.mode)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> ProviderAccount | None:
        """The Salesforce account whose connection holds the identity's org, of exactly one active
        organization."""
        org_id = ids.id18(identity.org_id)
        return services.connection_for_org(org_id) if ids.is_id(org_id) else None


# The same, as module functions (the provider's class methods call these).
sign_in_url = SalesforceSignIn.sign_in_url
sign_in_finish = SalesforceSignIn.sign_in_finish
connection_for_identity = SalesforceSignIn.connection_for_identity
