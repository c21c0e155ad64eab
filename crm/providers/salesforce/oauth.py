"""Connect Salesforce: the OAuth 2.0 web server flow (docs/vendors/salesforce.md, OAuth 2.0), disconnect, identity.

1. `authorize_url` sends the manager to the login host (the account's: login.salesforce.com, test.salesforce.com
   for a sandbox org, or the org's My Domain; or one the manager picks) with the scopes `api refresh_token id
   openid`, the signed state of every CRM flow (crm/oauth_state.py: single use, bound to this browser, naming
   the account and the login host) and a PKCE challenge. The PKCE verifier is derived from the state with the
   project's key, so it is never stored nor sent through the browser.
2. Salesforce sends them back to /crm/oauth/callback, which hands a connect to views.py; `connect_finish` claims
   the state and exchanges the code at the login host the state names, only if it is one of Salesforce's own or
   the one an operator set on the account (our client secret never goes to a host a URL could name). The answer's
   `signature` is checked (HMAC-SHA256 of `id` + `issued_at` with the client secret) and its `instance_url` must
   be a Salesforce instance (`*.my.salesforce.com`) or, for an account an operator pointed at an emulator, that
   emulator. The refresh token is stored encrypted, the login host in accounts_url, the instance in api_domain.
3. Who connected: the org and user ids of the identity URL in the answer, with the name and e-mail from userinfo.

A Salesforce org is held by one connection (a database constraint, as for every CRM): a second organization's claim is
refused with a message, storing nothing and revoking the new token. No vendor call happens inside a database
transaction: the callback view is non-atomic and writes afterwards. Errors are crm.errors types, so the provider
passes them on as they are: CrmAuthError (the flow failed or was refused; a person starts again), CrmUnavailable
(Salesforce did not answer), CrmRejected (a setup problem: no client id, a login host we will not use).

The exchanges with Salesforce that sign-in makes too are in oauth_flow.py, the login host and instance checks in
hosts.py, Salesforce's id forms in ids.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests
import structlog

from django.db import IntegrityError, transaction

from core import outbound
from crm import connection_state
from crm.connect_flow import ConnectFlow
from crm.errors import CrmAuthError, CrmError, CrmRejected
from crm.oauth_state import Flow, state_issue
from crm.providers.salesforce.errors import PROVIDER
from crm.providers.salesforce.hosts import (
    PRODUCTION_LOGIN,
    instance_url_check,
    login_for,
    login_host_trusted,
    sandbox_login,
)
from crm.providers.salesforce.ids import ids_from_identity_url
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.oauth_flow import (
    TokenAnswer,
    authorize_url_for,
    code_exchange,
    http_session,
    identity_from,
    organization_read,
    redirect_uri,
    token_revoke,
    userinfo_read,
)
from crm.providers.salesforce.services import connection_error_record, connection_for_account
from crm.records import Identity, Priority
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

CONNECT_FINISH = "salesforce:oauth-callback"  # the view that completes a connect (views.py)
SCOPES = ("api", "refresh_token", "id", "openid")
ORG_CLAIMED = (
    "The Salesforce org {name} is already connected to another Leadline organization, so it was not connected "
    "here; the sign-in was discarded. If this org is yours, contact Leadline support."
)
OTHER_ORG = (
    "This account was connected to the Salesforce org {previous}; you signed in to the org {new}, so nothing was "
    "changed (the account's mirrored records and members' Salesforce users belong to {previous}). To use {new}, add "
    "another Salesforce account and connect that one; sign in to {previous} to reconnect this one."
)
FLOW = ConnectFlow(
    kind=PROVIDER,
    model=SalesforceConnection,
    claimed_message=ORG_CLAIMED,
    other_org_message=OTHER_ORG,
    logger=logger,
)


# --- start --------------------------------------------------------------------------------------------------------
def authorize_url(account: ProviderAccount, *, session: Any, options: Mapping[str, str] | None = None) -> str:
    """The Salesforce consent URL for an account; remembers a nonce in the person's session. `options`: `login`
    ("account", "production" or "sandbox")."""
    if account.kind != ProviderKind.SALESFORCE:
        raise CrmRejected("Only Salesforce accounts connect to Salesforce.", provider=PROVIDER, code="bad_request")
    if not account.client_id or not account.client_secret:
        raise CrmRejected(
            "Enter the account's consumer key and secret (the app's client id and secret in Salesforce) first.",
            provider=PROVIDER,
            code="not_configured",
        )
    login = login_for(account, (options or {}).get("login", "account"))
    state = state_issue(
        session=session, kind=PROVIDER, flow=Flow.CONNECT, finish=CONNECT_FINISH, account=account.pk, login=login
    )
    return authorize_url_for(
        login=login, client_id=account.client_id, redirect_to=redirect_uri(), scopes=SCOPES, state=state
    )


def state_account_id(*, state: str, session: Any) -> tuple[int, str]:
    """(account id, login host) a connect's `state` was issued for, if it is genuine, fresh and from this session
    (single use). CrmAuthError "bad_state" otherwise."""
    data = FLOW.state_claim(state=state, session=session)
    return data["account"], str(data.get("login") or "")


# --- finish -------------------------------------------------------------------------------------------------------
def connect_finish(
    account: ProviderAccount, *, params: Mapping[str, str], session: Any, connected_by: str = ""
) -> Identity:
    """Salesforce's callback for `account`: the state must be one this session started for it; then the code is
    exchanged at the login host the state names (if we still trust it), the refresh token stored and the org and
    user recorded on the connection."""
    state = str(params.get("state") or "")
    login = str(FLOW.state_claim(state=state, session=session, account=account).get("login") or "")
    if params.get("error"):
        message = f"Salesforce sign-in did not complete: {params['error']}"
        if params.get("error_description"):
            message += f" ({params['error_description']})"
        connection_error_record(account=account, message=message)
        raise CrmAuthError(message, provider=PROVIDER, code="denied")
    if not login_host_trusted(account, login):
        raise _failed(account, CrmRejected(f"{login} is not a Salesforce login host; the connection was not made."))
    secret = _reveal(account.client_secret)
    http = http_session()
    try:
        answer = code_exchange(
            http=http,
            login=login,
            client_id=account.client_id,
            client_secret=secret,
            redirect_to=redirect_uri(),
            code=str(params.get("code") or ""),
            state=state,
        )
    except CrmError as exc:
        raise _failed(account, exc) from exc
    if not answer.refresh_token:
        _revoke(http, login, answer.access_token, account)
        raise _failed(
            account,
            CrmAuthError(
                "Salesforce sent no refresh token: give the app the scope 'Perform requests at any time "
                "(refresh_token, offline_access)' and start again.",
                code="no_refresh_token",
            ),
        )
    try:
        instance = instance_url_check(account=account, login=login, instance_url=answer.instance_url)
    except CrmAuthError as exc:
        _revoke(http, login, answer.refresh_token, account)
        logger.warning("salesforce.oauth.instance_refused", account_id=account.pk, instance_url=answer.instance_url)
        raise _failed(account, exc) from exc
    identity = _identity(http, login, answer, account)
    if not identity.org_id:
        _revoke(http, login, answer.refresh_token, account)
        raise _failed(account, CrmAuthError("Salesforce did not say which org this is; start again."))
    org = organization_read(http=http, instance=instance, access_token=answer.access_token, org_id=identity.org_id)
    if org.get("Name"):
        identity = replace(identity, org_name=str(org["Name"]))
    claim = {"account": account, "identity": identity, "connected_by": connected_by}
    claim["revoke"] = lambda: _revoke(http, login, answer.refresh_token, account)
    refused = FLOW.claim_refusal(**claim)
    if refused:
        raise refused
    try:
        _connected(
            account=account,
            answer=answer,
            login=login,
            instance=instance,
            identity=identity,
            org=org,
            connected_by=connected_by,
        )
    except IntegrityError as exc:  # two connects of one org at once: the constraint lets the first one win
        refused = FLOW.claim_lost(**claim)
        if not refused:
            raise
        raise refused from exc
    logger.info(
        "salesforce.connection.connected",
        account_id=account.pk,
        organization_id=account.organization_id,
        sf_org_id=identity.org_id,
    )
    return identity


def _identity(http: requests.Session, login: str, answer: TokenAnswer, account: ProviderAccount) -> Identity:
    """Who connected: the ids of the identity URL (signed with the answer), the name and e-mail from userinfo."""
    try:
        userinfo = userinfo_read(http=http, host=login, access_token=answer.access_token)
    except (requests.RequestException, ValueError, outbound.OutboundRefused):
        # The connection itself worked; the name and e-mail are shown once identity_fetch is asked again.
        logger.exception("salesforce.oauth.userinfo_failed", account_id=account.pk)
        userinfo = {}
    from_url = ids_from_identity_url(answer.identity_url)
    identity = identity_from(userinfo, identity_url=answer.identity_url)
    if from_url[0] and identity.org_id != from_url[0]:
        # userinfo must describe the token's own org; a mismatch is a broken or forged answer: trust the signed id.
        logger.warning("salesforce.oauth.userinfo_mismatch", account_id=account.pk)
        return Identity(org_id=from_url[0], user_id=from_url[1])
    return identity


def _revoke(http: requests.Session, login: str, token: str, account: ProviderAccount) -> None:
    if token:
        token_revoke(http=http, login=login, token=token, account_id=account.pk)


@transaction.atomic
def _connected(
    *,
    account: ProviderAccount,
    answer: TokenAnswer,
    login: str,
    instance: str,
    identity: Identity,
    org: Mapping[str, Any],
    connected_by: str,
) -> SalesforceConnection:
    _token_cache_clear(account)  # the old refresh token's cached access token
    account.refresh_token = answer.refresh_token
    account.accounts_url = login
    account.api_domain = instance
    account.save(update_fields=["refresh_token", "accounts_url", "api_domain", "updated_at"])
    connection = connection_for_account(account=account)
    connection_state.connection_connected(connection, connected_by=connected_by)
    if identity.org_name or connection.sf_org_id != identity.org_id:  # a reconnect keeps a name it was not told
        connection.org_name = identity.org_name[:200]
    connection.sf_org_id = identity.org_id
    connection.user_id = identity.user_id
    connection.user_email = identity.user_email[:254]
    connection.user_name = identity.user_name[:200]
    connection.identity_url = answer.identity_url[:500]
    connection.scopes = answer.scope
    connection.is_sandbox = bool(org["IsSandbox"]) if isinstance(org.get("IsSandbox"), bool) else sandbox_login(login)
    connection.save()
    return connection


_failed = FLOW.failed  # show the failure on the connection and give it back to raise, named as Salesforce's


def _reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


def _token_cache_clear(account: ProviderAccount) -> None:
    from crm.providers.salesforce import tokens

    tokens.token_cache_clear(account=account)


# --- disconnect ---------------------------------------------------------------------------------------------------
def disconnect(account: ProviderAccount) -> SalesforceConnection:
    """Revoke the refresh token at Salesforce, then forget it. If Salesforce cannot be reached the token is still
    dropped here (we stop using it at once), and the connection says so, so it can be revoked in Salesforce."""
    refresh_token = _reveal(account.refresh_token)
    problem = ""
    if refresh_token:
        login = login_host_trusted(account, account.accounts_url or PRODUCTION_LOGIN)
        if not login:
            problem = f"{account.accounts_url} is not a Salesforce login host, so the token was not sent there"
        else:
            try:
                response = http_session().post(f"{login}/services/oauth2/revoke", data={"token": refresh_token})
                if response.status_code >= 400:
                    problem = f"Salesforce answered HTTP {response.status_code} to the revocation"
            except (requests.RequestException, outbound.OutboundRefused) as exc:
                problem = f"Salesforce could not be reached to revoke the token ({type(exc).__name__})"
    _token_cache_clear(account)
    connection = connection_state.connection_disconnected(
        SalesforceConnection,
        account=account,
        problem=problem,
        advice="revoke it in Salesforce (Setup > Connected Apps OAuth Usage).",
    )
    logger.info("salesforce.connection.disconnected", account_id=account.pk, revoked=not problem)
    return connection


# --- identity -----------------------------------------------------------------------------------------------------
def identity_fetch(account: ProviderAccount) -> Identity:
    """The org and user behind the connection, asked of Salesforce now (userinfo on the org's instance, with the
    token broker's access token and the client's one refresh on a dead session): proves the credentials work."""
    from crm.providers.salesforce.client import SalesforceClient
    from crm.providers.salesforce.errors import SalesforceError, to_crm_error

    try:
        # A person is waiting (the admin, a provider check): the interactive share of the allocation.
        body = SalesforceClient(account, priority=Priority.INTERACTIVE).get("/services/oauth2/userinfo").json()
    except SalesforceError as exc:
        raise to_crm_error(exc) from exc
    connection = connection_for_account(account=account)
    identity = identity_from(body if isinstance(body, dict) else {}, identity_url=connection.identity_url)
    return Identity(
        org_id=identity.org_id,
        org_name=identity.org_name or connection.org_name,
        user_id=identity.user_id,
        user_email=identity.user_email,
        user_name=identity.user_name,
        user_active=identity.user_active,
    )
