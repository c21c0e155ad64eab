"""The org's daily API allocation as a budget shared by every process (docs/vendors/salesforce.md, Limits).

Salesforce counts API requests per org over a rolling 24 h and says where the org stands on every answer:
`Sforce-Limit-Info: api-usage=18/15000`. We keep the last figure in Django's cache (Redis in production) and, at
most once a minute (SALESFORCE_USAGE_PERSIST_SECONDS), on the SalesforceConnection (api_usage, api_limit,
api_usage_at: shown in the admin).

- Background work (sync, timeline, automation) is refused before it calls once usage reaches
  SALESFORCE_BACKGROUND_SHARE of the allocation (SalesforceLimitExceeded, code BUDGET_EXCEEDED, retry after
  SALESFORCE_BUDGET_RETRY_SECONDS), so a person's call (interactive) still goes through; interactive calls may use
  the rest.
- Past the allocation Salesforce answers 403 REQUEST_LIMIT_EXCEEDED: background calls are then blocked until
  SalesforceConnection.limit_blocked_until (now + SALESFORCE_LIMIT_BLOCK_SECONDS: Salesforce does not say when the
  window frees), shown in the admin. An interactive call may still try; the first answer that is not a 403 lifts
  the block.

Figures from the answers are the org's own (every client of the org counts), so nothing is counted here: the
header is the truth, and between two answers twenty workers may overshoot the share by at most twenty calls.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from django.core.cache import cache
from django.db import DatabaseError, transaction

from crm import records as crm_records
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import SalesforceLimitExceeded

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

Priority = crm_records.Priority

LIMIT_INFO = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")
_STATE_SECONDS = 60  # how long a process trusts the cached "not blocked" / "no usage known" answer of the database


@dataclass(frozen=True)
class Usage:
    """The org's API requests used in the last 24 h and its allocation, as Salesforce last said (at: epoch s)."""

    used: int
    limit: int
    at: float


def limit_info_parse(value: str) -> tuple[int, int] | None:
    """(used, allocation) from a Sforce-Limit-Info header ("api-usage=18/15000[, per-app-api-usage=...]")."""
    match = LIMIT_INFO.search(value or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


# --- reading the budget ----------------------------------------------------------------------------------------
def usage_get(*, account: ProviderAccount) -> Usage | None:
    """The last usage seen for the account's org (cache, else the connection row while it is recent)."""
    value = cache.get(_usage_key(account))
    if isinstance(value, dict):
        return Usage(value["used"], value["limit"], value["at"]) if value.get("limit") else None
    usage = None
    row = _connection_values(account, "api_usage", "api_limit", "api_usage_at")
    if row and row[0] is not None and row[1] and row[2] is not None:
        at = row[2].timestamp()
        if time.time() - at < salesforce_settings.BUDGET_RETRY_SECONDS:
            usage = Usage(row[0], row[1], at)
    payload = {"used": usage.used, "limit": usage.limit, "at": usage.at} if usage else {"limit": 0}
    cache.set(_usage_key(account), payload, timeout=_STATE_SECONDS)
    return usage


def blocked_until(*, account: ProviderAccount) -> float:
    """Epoch seconds until which Salesforce refused the org's calls (403 REQUEST_LIMIT_EXCEEDED); 0 when never."""
    value = cache.get(_block_key(account))
    if isinstance(value, int | float):
        return float(value)
    row = _connection_values(account, "limit_blocked_until")
    until = row[0].timestamp() if row and row[0] is not None else 0.0
    cache.set(_block_key(account), until, timeout=_STATE_SECONDS)
    return until


def budget_check(*, account: ProviderAccount, priority: Priority) -> None:
    """Refuse a background call while the org is blocked or its usage has reached the background share."""
    if Priority(priority) == Priority.INTERACTIVE:
        return
    now = time.time()
    until = blocked_until(account=account)
    if until > now:
        raise SalesforceLimitExceeded(
            f"Salesforce refused the org's calls (daily API allocation used up); background work waits until "
            f"{_iso(until)}",
            retry_after=until - now,
        )
    usage = usage_get(account=account)
    if usage is None:
        return
    allowed = int(usage.limit * salesforce_settings.BACKGROUND_SHARE)
    if usage.used >= allowed:
        raise SalesforceLimitExceeded(
            f"Salesforce API budget for background work reached: {usage.used} of {usage.limit} daily requests used "
            f"(background stops at {allowed})",
            error_code="BUDGET_EXCEEDED",
            retry_after=float(salesforce_settings.BUDGET_RETRY_SECONDS),
            body={"used": usage.used, "limit": usage.limit, "allowed": allowed},
        )


# --- what the answers said ---------------------------------------------------------------------------------------
def usage_record(*, account: ProviderAccount, header: str) -> Usage | None:
    """Keep the usage an answer carried; write it to the connection at most once per
    SALESFORCE_USAGE_PERSIST_SECONDS (across processes: a cache `add` decides who writes)."""
    parsed = limit_info_parse(header)
    if parsed is None:
        return None
    used, limit = parsed
    usage = Usage(used, limit, time.time())
    cache.set(
        _usage_key(account),
        {"used": used, "limit": limit, "at": usage.at},
        timeout=salesforce_settings.BUDGET_RETRY_SECONDS,
    )
    if cache.add(f"salesforce:usage-persisted:{account.pk}", 1, timeout=salesforce_settings.USAGE_PERSIST_SECONDS):
        _connection_write("connection_usage_record", account, used=used, limit=limit)
    return usage


def limit_block(*, account: ProviderAccount) -> float:
    """Salesforce answered 403 REQUEST_LIMIT_EXCEEDED: background calls wait SALESFORCE_LIMIT_BLOCK_SECONDS. Returns
    the seconds to wait."""
    seconds = float(salesforce_settings.LIMIT_BLOCK_SECONDS)
    until = time.time() + seconds
    cache.set(_block_key(account), until, timeout=int(seconds) + 1)
    _connection_write("connection_limit_block", account, until=datetime.fromtimestamp(until, tz=UTC))
    logger.warning("salesforce.limit.blocked", account_id=account.pk, until=_iso(until))
    return seconds


def limit_unblock_if_blocked(*, account: ProviderAccount) -> None:
    """An answer that was not a 403 REQUEST_LIMIT_EXCEEDED: the org may call again, so a block is lifted."""
    value = cache.get(_block_key(account))
    if value is None or (isinstance(value, int | float) and value == 0):
        return
    cache.set(_block_key(account), 0.0, timeout=_STATE_SECONDS)
    _connection_write("connection_limit_clear", account)
    logger.info("salesforce.limit.unblocked", account_id=account.pk)


# --- internals ------------------------------------------------------------------------------------------------
def _usage_key(account: ProviderAccount) -> str:
    return f"salesforce:usage:{account.pk}"


def _block_key(account: ProviderAccount) -> str:
    return f"salesforce:limit-blocked:{account.pk}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).replace(microsecond=0).isoformat()


def _connection_values(account: ProviderAccount, *fields: str) -> tuple | None:
    from crm.providers.salesforce.models import SalesforceConnection

    try:
        with transaction.atomic():
            return SalesforceConnection.unscoped_objects.filter(account_id=account.pk).values_list(*fields).first()
    except DatabaseError:
        logger.exception("salesforce.connection.read_failed", account_id=account.pk)
        return None


def _connection_write(name: str, account: ProviderAccount, **values: object) -> None:
    """A services.py write, best effort (a savepoint, so a failure never breaks the caller's transaction): the call
    matters more than the record."""
    from crm.providers.salesforce import services

    try:
        with transaction.atomic():
            getattr(services, name)(account=account, **values)
    except DatabaseError:
        logger.exception("salesforce.connection.update_failed", account_id=account.pk)
