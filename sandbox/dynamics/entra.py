"""Microsoft Entra ID's v2.0 endpoints for the Dynamics emulator (paths under `/entra`; on the sandbox's HTTPS
listener they sit at the root, so `https://127.0.0.1:<port>/<tenant>` works as an msal authority exactly like
`https://login.microsoftonline.com/<tenant>`). <tenant> is a tenant GUID, its `*.onmicrosoft.com` domain,
`organizations` or `common`.

- `GET /<tenant>/v2.0/.well-known/openid-configuration`: issuer, token_endpoint (on the HTTPS listener when it
  runs), authorization_endpoint (on the plain URL: a browser goes there), jwks_uri.
- `GET /common/discovery/keys` and `/<tenant>/discovery/v2.0/keys`: the JWKS (one RS256 key made per process).
- `POST /<tenant>/oauth2/v2.0/token` (form; client secret in the form or HTTP Basic):
  `client_credentials` with `scope=<environment URL>/.default` -> a token whose audience is the environment URL,
  refused unless the tenant consented to the app (400 invalid_client AADSTS7000229: no service principal) and
  the environment is in the tenant (400 invalid_resource AADSTS500011); `authorization_code` (sign-in; PKCE
  checked when the code has a challenge) -> id_token (RS256: oid, tid, name, preferred_username, aud = client
  id, iss, nonce), access_token, refresh_token, client_info; `refresh_token`. A wrong secret: 401 invalid_client
  AADSTS7000215; an unknown app: 400 unauthorized_client AADSTS700016; an unknown tenant: 400 invalid_request
  AADSTS90002. Errors carry error, error_description, error_codes, timestamp, trace_id, correlation_id.
- `POST /<tenant>/oauth2/token`: the legacy v1 endpoint (client credentials with `resource=<environment URL>`).
- The sign-in and admin consent pages: entra_pages.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from functools import cache
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

if TYPE_CHECKING:
    from sandbox.dynamics.state import DynamicsState, EntraApp, Tenant
    from sandbox.state import SandboxState

KEY_ID = "leadline-sandbox-entra-1"
GENERIC_TENANTS = ("common", "organizations", "consumers")
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


# --- keys and tokens ---------------------------------------------------------------------------------------------
@cache
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    numbers = signing_key().public_key().public_numbers()

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "keys": [
            {
                "kty": "RSA",
                "use": "sig",
                "kid": KEY_ID,
                "x5t": KEY_ID,
                "n": b64(numbers.n),
                "e": b64(numbers.e),
                "alg": "RS256",
            }
        ]
    }


def sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, signing_key(), algorithm="RS256", headers={"kid": KEY_ID, "x5t": KEY_ID})


def entra_root(request: Request) -> str:
    """Entra's root as this request reached it: the HTTPS listener's root, or `/entra` on the plain host."""
    return request.host_url.rstrip("/") if request.scheme == "https" else f"{request.host_url}entra"


def login_root(dynamics: DynamicsState, request: Request) -> str:
    """Where clients post for tokens: the HTTPS listener when it runs."""
    return dynamics.tls_url or entra_root(request)


def browser_root(dynamics: DynamicsState, request: Request) -> str:
    """Where a browser signs in and consents: `/entra` on the plain sandbox URL."""
    return f"{request.host_url}entra" if request.scheme == "http" else f"{dynamics.base_url}/entra"


def issuer(request: Request, tenant_id: str) -> str:
    return f"{entra_root(request)}/{tenant_id}/v2.0"


def find_tenant(dynamics: DynamicsState, name: str) -> Tenant | None:
    found = dynamics.tenant(name)
    if found is not None:
        return found
    for tenant in dynamics.tenants.values():
        if tenant.domain.lower() == (name or "").lower():
            return tenant
    return None


# --- errors --------------------------------------------------------------------------------------------------------
def entra_error(status: int, error: str, code: int, description: str, **extra: Any) -> Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
        f"Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        **extra,
    }
    return json_response(body, status, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def unknown_tenant(name: str) -> Response:
    return entra_error(
        400,
        "invalid_request",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


def unknown_app(client_id: str, tenant: Tenant | None) -> Response:
    where = tenant.name if tenant else "the directory"
    return entra_error(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{where}'. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user "
        "in the tenant. You may have sent your authentication request to the wrong tenant.",
    )


# --- discovery -----------------------------------------------------------------------------------------------------
def openid_configuration(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    dynamics = sandbox.dynamics
    found = find_tenant(dynamics, tenant)
    if found is None and tenant not in GENERIC_TENANTS:
        return json_response(
            {
                "error": "invalid_tenant",
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                "error_codes": [90002],
            },
            400,
        )
    segment = found.tenant_id if found else tenant
    shown_issuer = issuer(request, found.tenant_id if found else "{tenantid}")
    return json_response(
        {
            "token_endpoint": f"{login_root(dynamics, request)}/{segment}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{entra_root(request)}/{segment}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": shown_issuer,
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{browser_root(dynamics, request)}/{segment}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{login_root(dynamics, request)}/{segment}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{browser_root(dynamics, request)}/{segment}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{entra_root(request)}/{segment}/kerberos",
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
    )


def keys(sandbox: SandboxState, request: Request, tenant: str = "common") -> Response:
    return json_response(jwks())


# --- token endpoint ------------------------------------------------------------------------------------------------
def _client(request: Request) -> tuple[str, str]:
    client_id = request.form.get("client_id", "")
    secret = request.form.get("client_secret", "")
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, secret = client_id or auth.username or "", secret or auth.password or ""
    return client_id, secret


def token(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    dynamics = sandbox.dynamics
    grant = request.form.get("grant_type", "")
    client_id, secret = _client(request)
    found = find_tenant(dynamics, tenant)
    if found is None and (tenant not in GENERIC_TENANTS or grant == "client_credentials"):
        return unknown_tenant(tenant)
    app = dynamics.app(client_id)
    if app is None:
        return unknown_app(client_id, found)
    if not secret:
        return entra_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if not secrets.compare_digest(secret, app.client_secret):
        return entra_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app.client_id}'.",
        )
    if grant == "client_credentials":
        return client_credentials(sandbox, request, app, found)
    if grant == "authorization_code":
        from sandbox.dynamics.entra_pages import redeem_code

        return redeem_code(sandbox, request, app)
    if grant == "refresh_token":
        from sandbox.dynamics.entra_pages import redeem_refresh

        return redeem_refresh(sandbox, request, app)
    return entra_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


def client_credentials(sandbox: SandboxState, request: Request, app: EntraApp, tenant: Tenant) -> Response:
    dynamics = sandbox.dynamics
    scope = request.form.get("scope", "").strip()
    resource = scope[: -len("/.default")] if scope.endswith("/.default") else ""
    if not resource or " " in scope:
        return entra_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
        )
    if not dynamics.consented(tenant.tenant_id, app.client_id):
        return entra_error(
            400,
            "invalid_client",
            7000229,
            f"The client application {app.client_id} is missing service principal in the tenant "
            f"{tenant.tenant_id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
        )
    environment = dynamics.environment_of_url(resource)
    if environment is None or environment.tenant_id != tenant.tenant_id:
        return entra_error(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named {tenant.name}. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented to "
            "by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        )
    principal = tenant.service_principals[app.client_id]
    user = environment.application_user(app.client_id)
    return issue(
        sandbox,
        request,
        tenant=tenant,
        app=app,
        audience=resource,
        object_id=principal,
        kind="app",
        systemuserid=user["systemuserid"] if user else None,
        scopes=(scope,),
    )


def issue(
    sandbox: SandboxState,
    request: Request,
    *,
    tenant: Tenant,
    app: EntraApp,
    audience: str,
    object_id: str,
    kind: str,
    systemuserid: str | None,
    scopes: tuple[str, ...],
    extra: dict[str, Any] | None = None,
) -> Response:
    """A signed access token (recorded in the state) and the token endpoint's answer around it."""
    ttl = int(sandbox.config.dv_access_token_ttl_seconds)
    now = int(time.time())
    claims = {
        "aud": audience.rstrip("/"),
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "appid": app.client_id,
        "azp": app.client_id,
        "oid": object_id,
        "sub": object_id,
        "tid": tenant.tenant_id,
        "ver": "1.0",
        "uti": secrets.token_urlsafe(16),
    }
    if kind == "app":
        claims["idtyp"] = "app"
    access = sign(claims)
    dynamics = sandbox.dynamics
    dynamics.issue_token(
        tenant_id=tenant.tenant_id,
        client_id=app.client_id,
        audience=audience,
        object_id=object_id,
        systemuserid=systemuserid,
        kind=kind,
        scopes=scopes,
        token=access,
    )
    body = {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": access}
    if kind == "user":
        body["scope"] = " ".join(scopes)
    body.update(extra or {})
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    if not challenge:
        return True
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return verifier == challenge


def client_info(object_id: str, tenant_id: str) -> str:
    raw = json.dumps({"uid": object_id, "utid": tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_v1(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    """The legacy v1 token endpoint: `resource=<environment URL>` instead of a scope; the answer adds resource,
    expires_on and not_before (strings, as v1 gives them)."""
    form = request.form.copy()
    resource = form.pop("resource", "")
    if resource and "scope" not in form:
        form["scope"] = f"{resource.rstrip('/')}/.default"
    request.form = form  # type: ignore[misc]  # werkzeug caches the parsed form here
    answer = token(sandbox, request, tenant)
    if answer.status_code != 200:
        return answer
    body = json.loads(answer.get_data(as_text=True))
    now = int(time.time())
    body.update({key: str(value) for key, value in body.items() if key in ("expires_in", "ext_expires_in")})
    body.update(resource=resource, expires_on=str(now + int(body["expires_in"])), not_before=str(now))
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _pages_routes() -> list[tuple[str, list[str], Any]]:
    try:
        from sandbox.dynamics import entra_pages
    except ImportError:
        return []
    return entra_pages.ROUTES


ROUTES = [
    ("/entra/<tenant>/v2.0/.well-known/openid-configuration", ["GET"], openid_configuration),
    ("/entra/common/discovery/keys", ["GET"], keys),
    ("/entra/<tenant>/discovery/v2.0/keys", ["GET"], keys),
    ("/entra/<tenant>/oauth2/v2.0/token", ["POST"], token),
    ("/entra/<tenant>/oauth2/token", ["POST"], token_v1),
    *_pages_routes(),
]
