"""Writes for Salesforce connections: state changes reported by the connect flow, the token broker and the client.

Each function takes the ProviderAccount (the connection's row is created on first use) and writes only the columns
it owns, so the token broker's "refreshed" and the client's "usage seen" never overwrite each other's work.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from django.db import transaction
from django.utils import timezone

from crm import connection_state
from crm.providers.salesforce.models import SalesforceConnection
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)


def connection_for_account(*, account: ProviderAccount) -> SalesforceConnection:
    """The account's connection row, created on first use (state from whether a refresh token is stored)."""
    return connection_state.connection_for_account(SalesforceConnection, account=account)


def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> SalesforceConnection:
    """Salesforce refused the refresh token (revoked, expired, rotated away) or the user lost API access: a person
    must connect again. Alerts once."""
    connection, newly = connection_state.connection_needs_reauth(SalesforceConnection, account=account, reason=reason)
    if newly:
        # logger.error reaches Sentry: the alert that a manager has to reconnect Salesforce.
        logger.error(
            "salesforce.connection.needs_reauth",
            account_id=account.pk,
            organization_id=account.organization_id,
            reason=reason,
        )
    return connection


def connection_error_record(*, account: ProviderAccount, message: str) -> SalesforceConnection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    return connection_state.connection_error_record(SalesforceConnection, account=account, message=message)


@transaction.atomic
def connection_token_refreshed(*, account: ProviderAccount, instance_url: str = "") -> SalesforceConnection:
    """A refresh worked: the connection is healthy, and the org's instance is the one Salesforce named in that
    answer (the caller has checked `instance_url` is one we may call; it moves when an org is migrated)."""
    connection, refused_org_id = connection_state.connection_token_refreshed(SalesforceConnection, account=account)
    if refused_org_id:
        # The token works, but the org stays with the tenant that connected it since (crm.connection_state).
        logger.warning(
            "salesforce.connection.org_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            on="refresh",
        )
    if instance_url and instance_url != account.api_domain:
        ProviderAccount.unscoped_objects.filter(pk=account.pk).update(api_domain=instance_url)
        account.api_domain = instance_url
    return connection


def connection_usage_record(
    *, account: ProviderAccount, used: int, limit: int, seen_at: datetime | None = None
) -> None:
    """The org's allocation as the last `Sforce-Limit-Info` said (api-usage=used/limit); one UPDATE, no read. The
    client calls this at most once a minute (SALESFORCE_USAGE_PERSIST_SECONDS)."""
    connection = connection_for_account(account=account)
    SalesforceConnection.unscoped_objects.filter(pk=connection.pk).update(
        api_usage=max(0, int(used)), api_limit=max(0, int(limit)), api_usage_at=seen_at or timezone.now()
    )


def connection_limit_block(*, account: ProviderAccount, until: datetime, message: str = "") -> None:
    """The org answered 403 REQUEST_LIMIT_EXCEEDED: background work waits until `until` (shown in the admin).
    Warns once per block, not once per refused call."""
    if connection_state.connection_limit_block(SalesforceConnection, account=account, until=until, message=message):
        logger.warning(
            "salesforce.connection.limit_blocked",
            account_id=account.pk,
            organization_id=account.organization_id,
            until=until.isoformat(),
        )


def connection_limit_clear(*, account: ProviderAccount) -> None:
    """The block is over (a call succeeded after it): background work may go on."""
    connection_state.connection_limit_clear(SalesforceConnection, account=account)


def connection_for_org(org_id: str) -> ProviderAccount | None:
    """The Salesforce account whose connection holds the org (18-character id), of exactly one active
    organization."""
    account, claimants = connection_state.account_for_org(
        SalesforceConnection, org_id=org_id, kind=ProviderKind.SALESFORCE
    )
    if claimants:  # two customers claim one org: an operator must sort it out, nobody gets in
        logger.error("salesforce.sign_in.org_ambiguous", sf_org_id=org_id, organization_ids=claimants)
    return account
