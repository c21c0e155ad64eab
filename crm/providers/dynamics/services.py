"""Writes for Dynamics 365 connections: state changes reported by the connect flow, the token source and the client,
the webhook's secret, and which account holds an environment (webhooks name only its organization id; sign-in
names the tenant and the person's object id).

Each write takes the ProviderAccount (the connection's row is created on first use) and touches only the columns it
owns, so the token source's "refreshed" and the client's service-protection block never overwrite each other.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from django.db import transaction

from crm import connection_state
from crm.providers.dynamics.models import DynamicsConnection, webhook_secret_new
from studios.models import ProviderAccount, ProviderKind

logger = structlog.get_logger(__name__)

GUID_LENGTH = 36


def connection_for_account(*, account: ProviderAccount) -> DynamicsConnection:
    """The account's connection row, created on first use (not connected until an administrator consents)."""
    return connection_state.connection_for_account(DynamicsConnection, account=account)


def environment_url(account: ProviderAccount) -> str:
    """The environment the account's connection reaches: the URL stored at connect (the emulator's carries a
    path), else the account's API domain."""
    stored = DynamicsConnection.unscoped_objects.filter(account=account).values_list("environment_url", flat=True)
    return (stored.first() or account.api_domain or "").rstrip("/")


def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> DynamicsConnection:
    """Entra refused the app's credentials for the tenant (consent revoked, the secret expired) or the environment
    refused our application user: a manager must connect again. Alerts once."""
    connection, newly = connection_state.connection_needs_reauth(DynamicsConnection, account=account, reason=reason)
    if newly:
        # logger.error reaches Sentry: the alert that a manager has to reconnect Dynamics 365.
        logger.error(
            "dynamics.connection.needs_reauth",
            account_id=account.pk,
            organization_id=account.organization_id,
            reason=reason,
        )
    return connection


def connection_error_record(*, account: ProviderAccount, message: str) -> DynamicsConnection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    return connection_state.connection_error_record(DynamicsConnection, account=account, message=message)


def connection_token_refreshed(*, account: ProviderAccount) -> DynamicsConnection:
    """A token was issued: the connection is healthy (an environment another tenant holds since stays with it)."""
    connection, refused_org_id = connection_state.connection_token_refreshed(DynamicsConnection, account=account)
    if refused_org_id:
        logger.warning(
            "dynamics.connection.environment_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            org_id=refused_org_id,
            on="token",
        )
    return connection


def connection_limit_block(*, account: ProviderAccount, until: datetime, message: str = "") -> None:
    """Service protection refused calls for longer than a call waits: background work waits until `until`, shown
    in the admin. Warns once per block, not once per refused call."""
    if connection_state.connection_limit_block(DynamicsConnection, account=account, until=until, message=message):
        logger.warning(
            "dynamics.connection.limit_blocked",
            account_id=account.pk,
            organization_id=account.organization_id,
            until=until.isoformat(),
        )


def connection_limit_clear(*, account: ProviderAccount) -> None:
    """The block is over (a call succeeded after it): background work may go on."""
    connection_state.connection_limit_clear(DynamicsConnection, account=account)


@transaction.atomic
def webhook_secret_rotate(*, connection: DynamicsConnection) -> str:
    """A new value for the webhook's auth header, stored encrypted; the old one stops working at once (the
    webhook's registration in Dataverse must be given the new one)."""
    secret = webhook_secret_new()
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(webhook_secret=secret)
    connection.webhook_secret = secret
    logger.info("dynamics.connection.webhook_secret_rotated", connection_id=connection.pk)
    return secret


def connection_for_environment(org_id: str) -> ProviderAccount | None:
    """The Dynamics account whose connection holds the environment (its Dataverse organization id), of exactly one
    active organization."""
    org_id = str(org_id or "").strip().lower()
    if len(org_id) != GUID_LENGTH:
        return None
    account, claimants = connection_state.account_for_org(DynamicsConnection, org_id=org_id, kind=ProviderKind.DYNAMICS)
    if claimants:
        logger.error("dynamics.connection.environment_ambiguous", org_id=org_id, organization_ids=claimants)
    return account


def connections_of_tenant(tenant_id: str) -> list[DynamicsConnection]:
    """The connected environments of an Entra tenant, of active organizations (sign-in looks for the person's
    system user in each), in a stable order."""
    tenant_id = str(tenant_id or "").strip().lower()
    if len(tenant_id) != GUID_LENGTH:
        return []
    return list(
        DynamicsConnection.objects.unscoped()  # the tenant is being established here, from Entra's word
        .filter(tenant_id=tenant_id, account__kind=ProviderKind.DYNAMICS, organization__is_active=True)
        .exclude(state=DynamicsConnection.State.NOT_CONNECTED)
        .exclude(org_id="")
        .select_related("account", "organization")
        .order_by("pk")
    )
