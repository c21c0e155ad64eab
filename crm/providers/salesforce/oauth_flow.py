"""The OAuth 2.0 web server flow's exchanges with Salesforce, as the connect flow (oauth.py) and sign-in
(sign_in.py) both make them (docs/vendors/salesforce.md, OAuth 2.0): the consent URL with a PKCE challenge derived
from the signed state, the code exchange at a login host the caller has checked, the answer's signature, the
userinfo and Organization reads, and revoking a token we will not keep. Errors are crm.errors types."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
import structlog

from django.conf import settings
from django.utils.crypto import salted_hmac

from core import outbound
from core.http import make_session
from crm.errors import CrmAuthError, CrmRejected, CrmUnavailable
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import PROVIDER
from crm.providers.salesforce.ids import id18, ids_from_identity_url
from crm.records import Identity

logger = structlog.get_logger(__name__)


def redirect_uri() -> str:
    """Where Salesforce sends people back (the connected app's callback URL): the one callback of every CRM flow."""
    return salesforce_settings.OAUTH_REDIRECT_URI or f"{settings.PUBLIC_BASE_URL}/crm/oauth/callback"


def http_session(role: str = "salesforce-oauth") -> requests.Session:
    """The HTTP session of both flows (sign_in.py too): the token timeouts, no retries (a code is single use)."""
    return make_session(role, timeout=salesforce_settings.TOKEN_TIMEOUT, retries=0)


# --- PKCE ---------------------------------------------------------------------------------------------------------
def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce_verifier(state: str) -> str:
    """The code verifier of a flow, derived from its signed state with the project's key: the callback computes it
    again, so nothing is stored and someone holding the code and the state still cannot redeem the code."""
    return _b64url(salted_hmac("crm.salesforce.pkce", state, algorithm="sha256").digest())


def pkce_challenge(state: str) -> str:
    return _b64url(hashlib.sha256(pkce_verifier(state).encode()).digest())


# --- what both flows do with Salesforce ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenAnswer:
    access_token: str
    refresh_token: str
    instance_url: str
    identity_url: str
    scope: str
    issued_at: str
    signature: str


def authorize_url_for(*, login: str, client_id: str, redirect_to: str, scopes: tuple[str, ...], state: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_to,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": pkce_challenge(state),
        "code_challenge_method": "S256",
    }
    return f"{login}/services/oauth2/authorize?{urlencode(params)}"


def code_exchange(
    *,
    http: requests.Session,
    login: str,
    client_id: str,
    client_secret: str,
    redirect_to: str,
    code: str,
    state: str,
) -> TokenAnswer:
    """Salesforce's token answer for an authorization code, exchanged at `login` (already checked as trusted).
    CrmUnavailable if Salesforce did not answer; CrmAuthError if it refused, or the answer is not genuine."""
    if not code:
        raise CrmAuthError("Salesforce sent no authorization code; start again.", provider=PROVIDER, code="no_code")
    try:
        response = http.post(
            f"{login}/services/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_to,
                "code_verifier": pkce_verifier(state),
            },
            headers={"Accept": "application/json"},
        )
    except outbound.OutboundRefused as exc:
        raise CrmRejected(f"{exc.message}", provider=PROVIDER, code="login_host_refused") from exc
    except requests.RequestException as exc:
        raise CrmUnavailable(
            f"Salesforce ({login}) did not answer ({type(exc).__name__}); try again in a minute.", provider=PROVIDER
        ) from exc
    if response.status_code >= 500:
        raise CrmUnavailable(
            f"Salesforce ({login}) answered HTTP {response.status_code}; try again in a minute.",
            provider=PROVIDER,
            status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError as exc:  # a page, not a token answer: not Salesforce's token endpoint, or a proxy's
        raise CrmAuthError(
            f"{login} did not answer as a Salesforce login host (HTTP {response.status_code}, no JSON); check the "
            "account's login host.",
            provider=PROVIDER,
            code="not_a_token_answer",
            status=response.status_code,
        ) from exc
    if not isinstance(body, dict) or body.get("error") or not body.get("access_token"):
        error = body.get("error", "") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        reason = ": ".join(part for part in (error, description) if part) or f"HTTP {response.status_code}"
        raise CrmAuthError(
            f"Salesforce refused the sign-in ({reason}); start again.",
            provider=PROVIDER,
            code=str(error or "token_refused"),
            status=response.status_code,
        )
    answer = TokenAnswer(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        instance_url=str(body.get("instance_url") or ""),
        identity_url=str(body.get("id") or ""),
        scope=str(body.get("scope") or ""),
        issued_at=str(body.get("issued_at") or ""),
        signature=str(body.get("signature") or ""),
    )
    if not signature_valid(answer, client_secret=client_secret):
        raise CrmAuthError(
            "Salesforce's answer did not carry a valid signature; nothing was kept. Start again.",
            provider=PROVIDER,
            code="bad_signature",
        )
    return answer


def signature_valid(answer: TokenAnswer, *, client_secret: str) -> bool:
    """Whether the answer's `signature` is base64(HMAC-SHA256(client secret, id + issued_at)), Salesforce's proof
    that the identity URL was issued with our client. An answer without one is accepted (it is optional)."""
    if not answer.signature:
        return True
    expected = hmac.new(
        client_secret.encode(), f"{answer.identity_url}{answer.issued_at}".encode(), hashlib.sha256
    ).digest()
    try:
        given = base64.b64decode(answer.signature, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def userinfo_read(*, http: requests.Session, host: str, access_token: str) -> dict[str, Any]:
    """The OpenID userinfo of an access token, asked at a host already checked. {} when Salesforce answered no."""
    response = http.get(
        f"{host}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.status_code != 200:
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}


def organization_read(*, http: requests.Session, instance: str, access_token: str, org_id: str) -> dict[str, Any]:
    """The org's Name and IsSandbox (the Organization record), asked at its instance; {} when that cannot be read
    (a user without the permission, an emulator without the object): the connection works without them."""
    path = f"/services/data/v{salesforce_settings.API_VERSION}/sobjects/Organization/{org_id}"
    try:
        response = http.get(
            f"{instance}{path}",
            params={"fields": "Name,IsSandbox"},
            headers={
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json",
                "Sforce-Call-Options": f"client={salesforce_settings.CLIENT_NAME}",
            },
        )
        body = response.json() if response.status_code == 200 else {}
    except (requests.RequestException, ValueError, outbound.OutboundRefused):
        logger.info("salesforce.oauth.organization_unread", sf_org_id=org_id)
        return {}
    return body if isinstance(body, dict) else {}


def identity_from(userinfo: Mapping[str, Any], *, identity_url: str = "") -> Identity:
    """The Identity of a userinfo answer; the org and user ids fall back to the identity URL's."""
    org_from_url, user_from_url = ids_from_identity_url(identity_url or str(userinfo.get("sub") or ""))
    return Identity(
        org_id=id18(str(userinfo.get("organization_id") or "")) or org_from_url,
        org_name=str(userinfo.get("organization_name") or ""),
        user_id=id18(str(userinfo.get("user_id") or "")) or user_from_url,
        user_email=str(userinfo.get("email") or ""),
        user_name=str(userinfo.get("name") or userinfo.get("preferred_username") or ""),
        user_active=userinfo.get("active") is not False,
    )


def token_revoke(*, http: requests.Session, login: str, token: str, **log: Any) -> bool:
    """Revoke a token we will not keep (a refresh token's revocation ends its access tokens too); best effort."""
    try:
        response = http.post(f"{login}/services/oauth2/revoke", data={"token": token})
    except (requests.RequestException, outbound.OutboundRefused):
        # The token is stored nowhere; an unrevoked one shows in the user's Salesforce "Connected Apps OAuth Usage".
        logger.exception("salesforce.oauth.revoke_failed", **log)
        return False
    return response.status_code < 400
