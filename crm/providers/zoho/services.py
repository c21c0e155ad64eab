"""Writes for Zoho connections: state changes reported by the token broker and the client."""

from __future__ import annotations

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.providers.zoho.models import ZohoConnection
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)


def connection_for_account(*, account: ProviderAccount) -> ZohoConnection:
    """The account's connection row, created on first use (state from whether a refresh token is stored)."""
    connection, _ = ZohoConnection.unscoped_objects.get_or_create(
        account=account,
        defaults={
            "organization_id": account.organization_id,
            "state": ZohoConnection.State.CONNECTED if account.refresh_token else ZohoConnection.State.NOT_CONNECTED,
        },
    )
    return connection


@transaction.atomic
def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> ZohoConnection:
    """Zoho refused the refresh token (or a token after a refresh): a person must reconnect. Alerts once."""
    connection = connection_for_account(account=account)
    already = connection.state == ZohoConnection.State.NEEDS_REAUTH
    connection.state = ZohoConnection.State.NEEDS_REAUTH
    connection.last_error = reason
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at", "updated_at"])
    if not already:
        # logger.error reaches Sentry: the alert that a manager has to reconnect Zoho.
        logger.error(
            "zoho.connection.needs_reauth",
            account_id=account.pk,
            organization_id=account.organization_id,
            reason=reason,
        )
    return connection


@transaction.atomic
def connection_error_record(*, account: ProviderAccount, message: str) -> ZohoConnection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    connection = connection_for_account(account=account)
    connection.state = ZohoConnection.State.ERROR
    connection.last_error = message
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at", "updated_at"])
    return connection


@transaction.atomic
def connection_token_refreshed(*, account: ProviderAccount, api_domain: str = "") -> ZohoConnection:
    """A refresh worked: the connection is healthy, and the CRM API domain is the one Zoho issued the token for."""
    connection = connection_for_account(account=account)
    connection.state = ZohoConnection.State.CONNECTED
    connection.last_refreshed_at = timezone.now()
    try:
        with transaction.atomic():
            connection.save(update_fields=["state", "last_refreshed_at", "updated_at"])
    except IntegrityError:
        # A disconnected row naming a Zoho org that another tenant has connected since (e.g. a refresh token set
        # again by an operator): the token works, but the org stays with its holder.
        logger.warning(
            "zoho.connection.org_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            on="refresh",
        )
        connection.last_error = f"The Zoho org {connection.zoho_org_id} is connected to another Leadline organization."
        connection.zoho_org_id = ""
        connection.last_error_at = timezone.now()
        connection.save(update_fields=["state", "zoho_org_id", "last_error", "last_error_at", "last_refreshed_at"])
    if account.kind == ProviderKind.ZOHO_CRM and api_domain and api_domain != account.api_domain:
        # Zoho knows the data centre; a mistyped or default api_domain is corrected from the token answer (which
        # the token broker accepts only if it is a Zoho API domain, or the operator's emulator).
        ProviderAccount.unscoped_objects.filter(pk=account.pk).update(api_domain=api_domain)
        account.api_domain = api_domain
    return connection
