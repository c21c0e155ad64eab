"""What intake and replies share: the step log, leases that keep two workers off one item, backoff, and the facts
of a lead read from its canonical CRM record (crm.records.CanonicalRecord: `fields` by canonical key)."""

from __future__ import annotations

import random
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from automation.models import AutomationStep
from core.phone import normalize_e164
from crm.errors import CrmError
from crm.provider import CrmProvider
from crm.records import CanonicalRecord, FieldType

logger = structlog.get_logger(__name__)

LEASE_SECONDS = 300
# Waiting for the CRM (a lead not visible yet, or the CRM down): 5 s, 15 s, 30 s, 1, 2, 5, 10 min (about 19 min).
RETRY_SCHEDULE = (5, 15, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class Progress:
    """What a run of an intake or a reply came to, and the seconds until its next try when it must wait (the task
    publishes that retry: services never re-enqueue themselves)."""

    outcome: str
    retry_in: float | None = None


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


def lead_full_name(record: CanonicalRecord) -> str:
    """First and last name, else the record's name (a CRM with one name field)."""
    parts = (record.get("first_name"), record.get("last_name"))
    return " ".join(str(part) for part in parts if part).strip() or record.name


# The canonical keys of a lead's phone fields, the mobile first: the number a text can reach.
PHONE_KEYS = ("mobile", "phone")


def lead_mobile(record: CanonicalRecord, *, default_region: str | None) -> tuple[str | None, str]:
    """The lead's mobile in E.164 (mobile first, then phone) read in the studio's region, or None and why not."""
    typed = [(key, str(record.get(key) or "").strip()) for key in PHONE_KEYS]
    typed += [(field, number) for field, number in record.phones.items()]  # other phone fields, already E.164
    for field, raw in typed:
        if not raw:
            continue
        try:
            return normalize_e164(raw, default_region=default_region), ""
        except ValidationError as exc:
            return None, f"the lead's {field} {raw!r} is not a valid number ({exc.messages[0]})"
    return None, "the lead has no mobile or phone number"


def field_value(provider: CrmProvider, record: CanonicalRecord, name: str) -> Any:
    """A field of the record by the CRM's API name (what managers configure, e.g. a studio or opt-out field); a
    lookup gives the name of what it points at. None when the object has no such field."""
    try:
        spec = provider.object_spec(object=record.object).field(name)
    except KeyError:
        return record.get(name)
    if spec.type in (FieldType.LOOKUP, FieldType.USER):
        return record.get(f"{spec.key}_name") or record.get(spec.key)
    value = record.get(spec.key)
    return value.get("name") if isinstance(value, dict) else value


def merge_context(*, record: CanonicalRecord, studio_name: str, owner_name: str) -> dict[str, str]:
    return {
        "first_name": str(record.get("first_name") or ""),
        "last_name": str(record.get("last_name") or ""),
        "full_name": lead_full_name(record),
        "studio_name": studio_name,
        "owner_name": owner_name,
        "owner_first_name": owner_name.split(" ")[0] if owner_name else "",
    }


def due_date_for(*, time_zone: str, days: int, now: datetime | None = None) -> date:
    local = (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(time_zone))
    return local.date() + timedelta(days=days)


def crm_error_text(exc: CrmError) -> str:
    """An error of the CRM as the automation log says it: the error's type and the CRM's own words."""
    return f"{exc.__class__.__name__}: {exc}"
