"""What intake and replies share: the step log, leases that keep two workers off one item, backoff, lead facts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import structlog

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from automation.models import AutomationStep
from core.phone import normalize_e164

logger = structlog.get_logger(__name__)

LEASE_SECONDS = 300
# Waiting for Zoho (a lead not visible yet, or Zoho down): 5 s, 15 s, 30 s, 1, 2, 5, 10 min (about 19 min).
RETRY_SCHEDULE = (5, 15, 30, 60, 120, 300, 600)


def step_record(*, organization, step: str, outcome: str = "ok", detail: str = "", **links: Any) -> AutomationStep:
    """Write one line of the automation log (and the structured log)."""
    logger.info("automation_step", step=step, outcome=outcome, detail=detail[:200])
    return AutomationStep.unscoped_objects.create(
        organization=organization, step=step, outcome=outcome, detail=detail[:2000], at=timezone.now(), **links
    )


def lease_take(model, *, pk: int, statuses: tuple[str, ...]) -> bool:
    """Claim an item for LEASE_SECONDS with one conditional UPDATE: a duplicated task finds it taken. A worker
    that dies holding it loses the lease when it runs out."""
    now = timezone.now()
    return bool(
        model.objects.unscoped()
        .filter(pk=pk, status__in=statuses)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next try, or None when the schedule is used up."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 (jitter)


def lead_full_name(lead: dict[str, Any]) -> str:
    return " ".join(part for part in (lead.get("First_Name"), lead.get("Last_Name")) if part).strip()


def lead_owner(lead: dict[str, Any]) -> tuple[str, str]:
    owner = lead.get("Owner") or {}
    return str(owner.get("id") or ""), str(owner.get("name") or "")


def lead_mobile(lead: dict[str, Any], *, default_region: str | None) -> tuple[str | None, str]:
    """The lead's mobile in E.164 (Mobile first, then Phone), or None and why not."""
    for field in ("Mobile", "Phone"):
        raw = (lead.get(field) or "").strip()
        if not raw:
            continue
        try:
            return normalize_e164(raw, default_region=default_region), ""
        except ValidationError as exc:
            return None, f"the lead's {field} {raw!r} is not a valid number ({exc.messages[0]})"
    return None, "the lead has no mobile or phone number"


def merge_context(*, lead: dict[str, Any], studio_name: str, owner_name: str) -> dict[str, str]:
    return {
        "first_name": lead.get("First_Name") or "",
        "last_name": lead.get("Last_Name") or "",
        "full_name": lead_full_name(lead),
        "studio_name": studio_name,
        "owner_name": owner_name,
        "owner_first_name": owner_name.split(" ")[0] if owner_name else "",
    }


def due_date_for(*, time_zone: str, days: int, now: datetime | None = None) -> str:
    import zoneinfo

    local = (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(time_zone))
    return (local.date() + timedelta(days=days)).isoformat()
