"""Writes for HubSpot connections: state changes reported by the connect flow, the token broker and the client, and
which account holds a portal (the app's webhooks and sign-in name only the portal).

Each write takes the ProviderAccount (the connection's row is created on first use) and touches only the columns it
owns, so the token broker's "refreshed" and the client's "allowance seen" never overwrite each other's work.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from django.utils import timezone

from crm import connection_state
from crm.providers.hubspot.models import HubSpotConnection
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)


def connection_for_account(*, account: ProviderAccount) -> HubSpotConnection:
    """The account's connection row, created on first use (state from whether a refresh token is stored)."""
    return connection_state.connection_for_account(HubSpotConnection, account=account)


def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> HubSpotConnection:
    """HubSpot refused the refresh token (the app was uninstalled, the token revoked): a manager must connect
    again. Alerts once."""
    connection, newly = connection_state.connection_needs_reauth(HubSpotConnection, account=account, reason=reason)
    if newly:
        # logger.error reaches Sentry: the alert that a manager has to reconnect HubSpot.
        logger.error(
            "hubspot.connection.needs_reauth",
            account_id=account.pk,
            organization_id=account.organization_id,
            reason=reason,
        )
    return connection


def connection_error_record(*, account: ProviderAccount, message: str) -> HubSpotConnection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    return connection_state.connection_error_record(HubSpotConnection, account=account, message=message)


def connection_token_refreshed(*, account: ProviderAccount) -> HubSpotConnection:
    """A refresh worked: the connection is healthy (a portal another tenant holds since stays with it)."""
    connection, refused_hub_id = connection_state.connection_token_refreshed(HubSpotConnection, account=account)
    if refused_hub_id:
        logger.warning(
            "hubspot.connection.hub_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            hub_id=refused_hub_id,
            on="refresh",
        )
    return connection


def connection_rate_record(
    *, account: ProviderAccount, daily_limit: int, daily_remaining: int, seen_at: datetime | None = None
) -> None:
    """The portal's daily allowance as the last X-HubSpot-RateLimit-Daily(-Remaining) headers said; one UPDATE,
    no read (the client calls it now and then, not on every call)."""
    connection = connection_for_account(account=account)
    HubSpotConnection.unscoped_objects.filter(pk=connection.pk).update(
        daily_limit=max(0, int(daily_limit)),
        daily_remaining=max(0, int(daily_remaining)),
        rate_seen_at=seen_at or timezone.now(),
    )


def connection_limit_block(*, account: ProviderAccount, until: datetime, message: str = "") -> None:
    """HubSpot refused a call for the portal's daily limit: background work waits until `until` (the portal's
    midnight), shown in the admin. Warns once per block, not once per refused call."""
    if connection_state.connection_limit_block(HubSpotConnection, account=account, until=until, message=message):
        logger.warning(
            "hubspot.connection.limit_blocked",
            account_id=account.pk,
            organization_id=account.organization_id,
            until=until.isoformat(),
        )


def connection_limit_clear(*, account: ProviderAccount) -> None:
    """The block is over (a call succeeded after it): background work may go on."""
    connection_state.connection_limit_clear(HubSpotConnection, account=account)


def connection_for_hub(hub_id: str | int) -> ProviderAccount | None:
    """The HubSpot account whose connection holds the portal, of exactly one active organization."""
    hub = str(hub_id or "").strip()
    if not hub.isdigit():
        return None
    account, claimants = connection_state.account_for_org(HubSpotConnection, org_id=hub, kind=ProviderKind.HUBSPOT)
    if claimants:
        logger.error("hubspot.connection.hub_ambiguous", hub_id=hub, organization_ids=claimants)
    return account
