"""Per-organization limits shared by every process: the API-credit budget and the concurrency cap.

Both live in Django's cache (Redis in production), so twenty workers see one budget and one set of slots.

Credits: Zoho's pool is a rolling 24 h window per org (docs/vendors/zoho-crm.md, Limits and errors). We count what
each call costs in buckets of ZOHO_CREDIT_BUCKET_SECONDS and sum the buckets of the last 24 h, which over-counts
by at most one bucket: the safe side. Background work is refused once the pool is used up to
ZOHO_BACKGROUND_CREDIT_SHARE, so a staff member's send (interactive) still has credits; interactive work may use
the whole pool.

Concurrency: ZOHO_CONCURRENCY_PER_ORG slots, each a cache key taken with an atomic `add` and a TTL longer than
any call, so a crashed worker's slot frees itself.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.cache import cache

from crm import records as crm_records
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.errors import ZohoBudgetExceeded, ZohoConcurrencyTimeout

DAY_SECONDS = 24 * 3600


# Interactive calls may spend the credits kept back from background work (see credit_take).
Priority = crm_records.Priority


# --- credits ----------------------------------------------------------------------------------------------------
def _bucket_keys(organization_id: int, now: float) -> tuple[str, list[str]]:
    size = zoho_settings.CREDIT_BUCKET_SECONDS
    current = int(now // size)
    keys = [f"zoho:credits:{organization_id}:{bucket}" for bucket in range(current - DAY_SECONDS // size, current + 1)]
    return keys[-1], keys


def credits_used(*, organization_id: int) -> int:
    """Credits spent by this organization in the last 24 h (as counted by us)."""
    _, keys = _bucket_keys(organization_id, time.time())
    return sum(int(value) for value in cache.get_many(keys).values())


def credit_limit_for(*, organization_id: int, override: int | None = None) -> int:
    return override or zoho_settings.API_CREDITS_PER_DAY


def credits_spend(*, organization_id: int, cost: int, priority: Priority, limit: int) -> None:
    """Count a call's cost before it is made; refuse it when the priority's share of the pool is used up."""
    used = credits_used(organization_id=organization_id)
    share = 1.0 if priority == Priority.INTERACTIVE else zoho_settings.BACKGROUND_CREDIT_SHARE
    allowed = int(limit * share)
    if used + cost > allowed:
        raise ZohoBudgetExceeded(
            f"Zoho API-credit budget reached for {priority} work: {used} of {allowed} credits used in 24 h "
            f"(pool {limit})",
            code="BUDGET_EXCEEDED",
            details={"used": used, "allowed": allowed, "limit": limit, "priority": str(priority)},
        )
    _add(organization_id, cost)


def credits_refund(*, organization_id: int, cost: int) -> None:
    """Give back a call's cost when Zoho did not charge it (auth failures, throttling, server errors)."""
    _add(organization_id, -cost)


def _add(organization_id: int, amount: int) -> None:
    key, _ = _bucket_keys(organization_id, time.time())
    cache.add(key, 0, timeout=DAY_SECONDS + zoho_settings.CREDIT_BUCKET_SECONDS)
    try:
        cache.incr(key, amount)
    except ValueError:  # the bucket expired between add and incr
        cache.set(key, max(amount, 0), timeout=DAY_SECONDS + zoho_settings.CREDIT_BUCKET_SECONDS)


# --- concurrency ------------------------------------------------------------------------------------------------
@contextmanager
def concurrency_slot(
    *, organization_id: int, hold_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> Iterator[int]:
    """Hold one of the organization's call slots for the duration of a call (waiting for one if all are busy)."""
    owner = uuid.uuid4().hex
    slots = zoho_settings.CONCURRENCY_PER_ORG
    deadline = time.monotonic() + zoho_settings.CONCURRENCY_WAIT_SECONDS
    ttl = int(hold_seconds) + 10
    taken: str | None = None
    while taken is None:
        for number in random.sample(range(slots), slots):
            key = f"zoho:slot:{organization_id}:{number}"
            if cache.add(key, owner, timeout=ttl):
                taken = key
                break
        if taken is None:
            if time.monotonic() >= deadline:
                raise ZohoConcurrencyTimeout(f"all {slots} Zoho call slots of organization {organization_id} busy")
            sleep(random.uniform(0.02, 0.08))  # noqa: S311
    try:
        yield int(taken.rsplit(":", 1)[1])
    finally:
        if cache.get(taken) == owner:
            cache.delete(taken)
