"""Writes for Zoho connections: state changes reported by the token broker and the client."""

from __future__ import annotations

import structlog

from django.db import transaction

from crm import connection_state
from crm.providers.zoho.models import ZohoConnection
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)


def connection_for_account(*, account: ProviderAccount) -> ZohoConnection:
    """The account's connection row, created on first use (state from whether a refresh token is stored)."""
    return connection_state.connection_for_account(ZohoConnection, account=account)


def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> ZohoConnection:
    """Zoho refused the refresh token (or a token after a refresh): a person must reconnect. Alerts once."""
    connection, newly = connection_state.connection_needs_reauth(ZohoConnection, account=account, reason=reason)
    if newly:
        # logger.error reaches Sentry: the alert that a manager has to reconnect Zoho.
        logger.error(
            "zoho.connection.needs_reauth",
            account_id=account.pk,
            organization_id=account.organization_id,
            reason=reason,
        )
    return connection


def connection_error_record(*, account: ProviderAccount, message: str) -> ZohoConnection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    return connection_state.connection_error_record(ZohoConnection, account=account, message=message)


@transaction.atomic
def connection_token_refreshed(*, account: ProviderAccount, api_domain: str = "") -> ZohoConnection:
    """A refresh worked: the connection is healthy, and the CRM API domain is the one Zoho issued the token for."""
    connection, refused_org_id = connection_state.connection_token_refreshed(ZohoConnection, account=account)
    if refused_org_id:
        # The token works, but the org stays with the tenant that connected it since (crm.connection_state).
        logger.warning(
            "zoho.connection.org_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            on="refresh",
        )
    if account.kind == ProviderKind.ZOHO_CRM and api_domain and api_domain != account.api_domain:
        # Zoho knows the data centre; a mistyped or default api_domain is corrected from the token answer (which
        # the token broker accepts only if it is a Zoho API domain, or the operator's emulator).
        ProviderAccount.unscoped_objects.filter(pk=account.pk).update(api_domain=api_domain)
        account.api_domain = api_domain
    return connection
