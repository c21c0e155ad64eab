"""Bulk Read export files: records as CSV (or Events as ICS) written straight into a job's ZIP."""

from __future__ import annotations

import csv
import gc
import io
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.zoho_crm.store import parse_zoho_datetime

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

ICS_FIELDS = ("id", "Event_Title", "Start_DateTime", "End_DateTime", "Venue", "Description")


def all_columns(org: ZohoOrg, module: str, records: Iterable[dict[str, Any]]) -> list[str]:
    """Every field of the module: its metadata order, then any other field the records carry ($ keys aside)."""
    columns = [
        meta["api_name"]
        for meta in org.fields.get(module, [])
        if isinstance(meta, dict) and meta.get("api_name") and meta["api_name"] != "id"
    ]
    seen = set(columns) | {"id"}
    extra: set[str] = set()
    for record in records:
        extra.update(key for key in record if key not in seen and not key.startswith("$"))
    return columns + sorted(extra)


def csv_value(value: Any) -> str:
    """A record value as Zoho writes it in a Bulk Read CSV: lookups as ids, multi-select values joined by ';'."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is dict:
        return str(value.get("id") or "")
    if kind is list:
        return ";".join(map(csv_value, value))
    return str(value)


_collector_lock = threading.Lock()
_collector_state = {"pauses": 0, "was_enabled": True}


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (process-wide) while many long-lived small objects are created; it
    comes back when the last overlapping pause ends, if it was on before the first."""
    with _collector_lock:
        if _collector_state["pauses"] == 0:
            _collector_state["was_enabled"] = gc.isenabled()
        _collector_state["pauses"] += 1
        gc.disable()
    try:
        yield
    finally:
        with _collector_lock:
            _collector_state["pauses"] -= 1
            if _collector_state["pauses"] == 0 and _collector_state["was_enabled"]:
                gc.enable()


def column_resolvers(org: ZohoOrg | None, module: str, columns: list[str]) -> list[Callable[[Any], str]]:
    """One formatter per column; dotted columns look up the user or the related record."""
    metadata = {meta.get("api_name"): meta for meta in (org.fields.get(module, []) if org else [])}
    resolvers: list[Callable[[Any], str]] = []
    for name in columns:
        if "." not in name or org is None:
            resolvers.append(csv_value)
            continue
        base, sub = name.split(".", 1)
        lookup = (metadata.get(base) or {}).get("lookup") or {}
        target = ((lookup.get("module") or {}) if isinstance(lookup, dict) else {}).get("api_name")
        resolvers.append(_dotted(org, target, sub))
    return resolvers


def _dotted(org: ZohoOrg, target: str | None, sub: str) -> Callable[[Any], str]:
    def resolve(value: Any) -> str:
        if not isinstance(value, dict):
            return ""
        related_id = str(value.get("id") or "")
        user = org.users.get(related_id)
        if user is not None:
            return csv_value(user.get(sub, value.get(sub)))
        store = org.module(target) if target else None
        related = store.get(related_id) if store is not None else None
        if related is not None:
            return csv_value(related.get(sub))
        return csv_value(value.get(sub, value.get("name")))

    return resolve


def write_csv(
    path: Path, job_id: str, columns: list[str], rows: list[tuple[Any, ...]], resolvers: list[Callable[[Any], str]]
) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(f"{job_id}.csv", "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(["id", *columns])
            if all(resolve is csv_value for resolve in resolvers):
                for row in rows:
                    writer.writerow(map(csv_value, row))
            else:
                everything = [csv_value, *resolvers]
                for row in rows:
                    writer.writerow([resolve(value) for resolve, value in zip(everything, row, strict=True)])
            text.flush()
            text.detach()


def _ics_time(value: Any) -> str:
    if not value:
        return ""
    try:
        moment = parse_zoho_datetime(str(value))
    except ValueError:
        return ""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_text(value: Any) -> str:
    return csv_value(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def write_ics(path: Path, job_id: str, rows: list[tuple[Any, ...]], org: ZohoOrg | None) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Zoho CRM//Bulk Read//EN"]
    for record_id, title, start, end, venue, description in rows:
        lines += ["BEGIN:VEVENT", f"UID:{record_id}", f"SUMMARY:{_ics_text(title)}"]
        lines += [f"DTSTART:{_ics_time(start)}", f"DTEND:{_ics_time(end)}"]
        if venue:
            lines.append(f"LOCATION:{_ics_text(venue)}")
        if description:
            lines.append(f"DESCRIPTION:{_ics_text(description)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{job_id}.ics", "\r\n".join(lines) + "\r\n")
