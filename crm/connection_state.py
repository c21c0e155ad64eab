"""The state of a CRM connection's OAuth link, common to every CRM provider: the abstract model each provider's
connection row extends, and the state changes the connect flow, the token broker and the client report.

A provider's model declares its own organization/account links (their related names differ), its vendor's ids and
the claim constraints; it names its vendor (`crm_name`) and the field holding the vendor's org id (`org_id_field`)
so the writes here can say which org a refused claim was about. The writes say what happened; the provider's own
services log it under its name (this layer imports only core and studios).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any, TypeVar

from django.db import DatabaseError, IntegrityError, models, transaction
from django.utils import timezone

from core.models import TimeStampedModel
from core.tenancy import TenantManager, TenantModel
from studios.models import ProviderAccount


class CrmConnection(TenantModel, TimeStampedModel):
    """How a CRM account is connected: state, who connected it and when, the last refresh, what went wrong last."""

    class State(models.TextChoices):
        NOT_CONNECTED = "not_connected", "Not connected"
        CONNECTED = "connected", "Connected"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        ERROR = "error", "Error"

    # Set by each provider's model.
    crm_name = ""  # the vendor as people read it, in messages
    org_id_field = ""  # the field holding the vendor's org id (held by one connection at a time)

    state = models.CharField(max_length=16, choices=State.choices, default=State.NOT_CONNECTED)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.CharField(max_length=254, blank=True, help_text="The Leadline user who connected it.")
    last_refreshed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()

    class Meta(TenantModel.Meta):
        abstract = True
        ordering = ["organization__name", "account__name"]

    def __str__(self) -> str:
        return f"{self.account.name}: {self.get_state_display()}"


Connection = TypeVar("Connection", bound=CrmConnection)


def connection_for_account(model: type[Connection], *, account: ProviderAccount) -> Connection:
    """The account's connection row, created on first use (state from whether a refresh token is stored)."""
    connection, _ = model.unscoped_objects.get_or_create(
        account=account,
        defaults={
            "organization_id": account.organization_id,
            "state": model.State.CONNECTED if account.refresh_token else model.State.NOT_CONNECTED,
        },
    )
    return connection


@transaction.atomic
def connection_needs_reauth(
    model: type[Connection], *, account: ProviderAccount, reason: str
) -> tuple[Connection, bool]:
    """The CRM refused the refresh token (or a token after a refresh): a person must connect again. Also whether
    this is news (the connection did not need it already), so the caller alerts once."""
    connection = connection_for_account(model, account=account)
    already = connection.state == model.State.NEEDS_REAUTH
    connection.state = model.State.NEEDS_REAUTH
    connection.last_error = reason
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at", "updated_at"])
    return connection, not already


@transaction.atomic
def connection_error_record(model: type[Connection], *, account: ProviderAccount, message: str) -> Connection:
    """Something other than the token failed (e.g. the connect flow): shown on the connection."""
    connection = connection_for_account(model, account=account)
    connection.state = model.State.ERROR
    connection.last_error = message
    connection.last_error_at = timezone.now()
    connection.save(update_fields=["state", "last_error", "last_error_at", "updated_at"])
    return connection


@transaction.atomic
def connection_token_refreshed(model: type[Connection], *, account: ProviderAccount) -> tuple[Connection, str]:
    """A refresh worked: the connection is healthy (the provider then records what the answer said of the API).
    Also the org id the connection had to let go of, if another tenant holds that org now ("" otherwise)."""
    connection = connection_for_account(model, account=account)
    connection.state = model.State.CONNECTED
    connection.last_refreshed_at = timezone.now()
    refused_org_id = ""
    try:
        with transaction.atomic():
            connection.save(update_fields=["state", "last_refreshed_at", "updated_at"])
    except IntegrityError:
        # A disconnected row naming a CRM org that another tenant has connected since (e.g. a refresh token set
        # again by an operator): the token works, but the org stays with its holder.
        refused_org_id = getattr(connection, model.org_id_field)
        connection.last_error = (
            f"The {model.crm_name} org {refused_org_id} is connected to another Leadline organization."
        )
        setattr(connection, model.org_id_field, "")
        connection.last_error_at = timezone.now()
        connection.save(update_fields=["state", model.org_id_field, "last_error", "last_error_at", "last_refreshed_at"])
    return connection, refused_org_id


def connection_connected(connection: CrmConnection, *, connected_by: str) -> None:
    """A connect worked: the bookkeeping every provider's connection records (the caller sets its vendor's ids and
    saves, inside the same transaction)."""
    now = timezone.now()
    connection.state = connection.State.CONNECTED
    connection.connected_at = now
    connection.connected_by = connected_by
    connection.last_refreshed_at = now
    connection.last_error = ""
    connection.last_error_at = None
    _limit_block_end(connection)


def _limit_block_end(connection: CrmConnection) -> None:
    """No API-limit block outlives a connect or disconnect (for the providers whose connection records one)."""
    if hasattr(type(connection), "limit_blocked_until"):
        connection.limit_blocked_until = None


@transaction.atomic
def connection_disconnected(
    model: type[Connection], *, account: ProviderAccount, problem: str = "", advice: str = ""
) -> Connection:
    """The refresh token is forgotten (revoked at the CRM or not: `problem` says what went wrong there, `advice`
    how a person ends it at the CRM instead)."""
    account.refresh_token = ""
    account.save(update_fields=["refresh_token", "updated_at"])
    connection = connection_for_account(model, account=account)
    connection.state = model.State.NOT_CONNECTED
    _limit_block_end(connection)
    connection.last_error = f"{problem}; {advice}" if problem else ""
    connection.last_error_at = timezone.now() if problem else None
    connection.save()
    return connection


def previous_org_id(model: type[Connection], *, account: ProviderAccount) -> str:
    """The CRM org this account was connected to (kept after a disconnect), "" if none yet."""
    rows = model.unscoped_objects.filter(account=account).values_list(model.org_id_field, flat=True)
    return rows.first() or ""


def org_claimed_elsewhere(model: type[Connection], *, account: ProviderAccount, org_id: str) -> bool:
    """Whether another connection holds this CRM org (connected, or waiting to be reconnected)."""
    return (
        model.objects.unscoped()  # a claim is checked across every tenant, and only answered yes/no
        .filter(**{model.org_id_field: org_id})
        .exclude(state=model.State.NOT_CONNECTED)
        .exclude(account=account)
        .exists()
    )


def account_for_org(model: type[Connection], *, org_id: str, kind: str) -> tuple[ProviderAccount | None, list[int]]:
    """The account of `kind` whose connection holds the CRM org, if exactly one active organization holds it (one
    claim per org is a constraint; two would be an operator's mess, and then nobody is let in). Also the
    organizations claiming it when there are several, for the caller to report."""
    rows = set(
        model.objects.unscoped()  # the tenant is being established here, from the CRM's word
        .filter(**{model.org_id_field: org_id}, account__kind=kind, organization__is_active=True)
        .exclude(state=model.State.NOT_CONNECTED)  # a disconnected row holds nothing
        .values_list("organization_id", "account_id")
    )
    organization_ids = sorted({organization_id for organization_id, _ in rows})
    if len(organization_ids) != 1:
        return None, organization_ids
    _, account_id = min(rows)
    return ProviderAccount.objects.unscoped().select_related("organization").get(pk=account_id), []  # as above


def connection_limit_block(
    model: type[Connection], *, account: ProviderAccount, until: datetime, message: str = ""
) -> bool:
    """The CRM refused calls for an API limit: background work waits until `until` (shown in the admin). Whether
    this is news (not already blocked that long), so the caller warns once per block, not per refused call."""
    connection = connection_for_account(model, account=account)
    already = connection.limit_blocked_until is not None and connection.limit_blocked_until >= until
    values: dict[str, object] = {"limit_blocked_until": until}
    if message:
        values.update(last_error=message, last_error_at=timezone.now())
    model.unscoped_objects.filter(pk=connection.pk).update(**values)
    return not already


def connection_limit_clear(model: type[Connection], *, account: ProviderAccount) -> None:
    """The block is over (a call succeeded after it): background work may go on."""
    model.unscoped_objects.filter(account=account, limit_blocked_until__isnull=False).update(limit_blocked_until=None)


def connection_write_best_effort(
    services: Callable[[], ModuleType], name: str, account: ProviderAccount, *, logger: Any, prefix: str, **values: Any
) -> None:
    """Call the write `name` of a provider's services module (`services()` imports it) for the account, best
    effort: the caller's error or answer matters more than the record, and the module may be absent while a
    package is being built. What goes wrong is logged with the provider's `logger` as `<prefix>.connection.*`."""
    try:
        module = services()
    except ImportError:
        logger.warning(f"{prefix}.connection.services_missing", write=name)
        return
    write = getattr(module, name, None)
    if write is None:
        logger.warning(f"{prefix}.connection.services_missing", write=name)
        return
    try:
        write(account=account, **values)
    except DatabaseError:
        logger.exception(f"{prefix}.connection.update_failed", account_id=account.pk, write=name)
