"""Replication by time window: `GET sobjects/<X>/updated/?start&end` (getUpdated) and
`GET sobjects/<X>/deleted/?start&end` (getDeleted).

What Salesforce does and the emulator does too (docs/vendors/salesforce.md, Reading changes):
- `start`/`end` are UTC datetimes whose seconds are ignored (both are floored to the minute); `start` must come
  more than a minute before `end`, and no earlier than `sf_get_updated_days` (30) / `sf_get_deleted_days` (15)
  days ago: otherwise 400 INVALID_REPLICATION_DATE (the message wording is UNCONFIRMED);
- getUpdated answers `{"ids": [...], "latestDateCovered"}`: ids whose SystemModstamp lies in [start, end) and
  that are not deleted; getDeleted answers `{"deletedRecords": [{"id", "deletedDate"}], "earliestDateAvailable",
  "latestDateCovered"}` from the delete log, whose older part a purge removes (the control
  `POST /_sandbox/salesforce/orgs/<id>/deleted-log/purge` moves `earliestDateAvailable`: a client whose last run
  is older than it has missed deletes and must reconcile ids);
- `latestDateCovered` is `end` (or now, when `end` is later), floored to the minute;
- more than `sf_id_limit` (600,000) ids: 400 EXCEEDED_ID_LIMIT.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response
from sandbox.salesforce.calls import not_found_error, sf_endpoint, sf_error
from sandbox.salesforce.state import format_sf_datetime, parse_sf_datetime

if TYPE_CHECKING:
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState


class _WindowError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("bad replication window")
        self.response = response


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _replication_error(message: str) -> _WindowError:
    return _WindowError(sf_error(400, "INVALID_REPLICATION_DATE", message))


def _window(org: SfOrg, request: Request, days: int) -> tuple[datetime, datetime, datetime]:
    """(start, end, latest covered) floored to the minute, or _WindowError with Salesforce's answer."""
    values: dict[str, datetime] = {}
    for name in ("start", "end"):
        text = request.args.get(name)
        if not text:
            raise _WindowError(sf_error(400, "MISSING_ARGUMENT", f"{name} parameter must be specified"))
        try:
            values[name] = _minute(parse_sf_datetime(text.replace(" ", "+")))
        except ValueError:
            raise _replication_error(f"{name} is not a valid dateTime: {text}") from None
    start, end = values["start"], values["end"]
    now = org.now()
    if end - start < timedelta(minutes=1):
        raise _replication_error("startDate must chronologically precede endDate by more than one minute")
    if start < _minute(now - timedelta(days=days)):
        raise _replication_error(f"startDate cannot be more than {days} days ago")
    if start > now:
        raise _replication_error("startDate cannot be in the future")
    return start, end, min(end, _minute(now))


def _too_many(count: int, limit: int) -> Response | None:
    if count > limit:
        return sf_error(
            400,
            "EXCEEDED_ID_LIMIT",
            f"The number of records ({count}) exceeds the limit of {limit}: choose start and end dates closer "
            "together.",
        )
    return None


@sf_endpoint()
def get_updated(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str
) -> Response:
    store = org.store(sobject)
    if store is None:
        return not_found_error()
    try:
        start, _end, covered = _window(org, request, int(sandbox.config.sf_get_updated_days))
    except _WindowError as refused:
        return refused.response
    low, high = start.timestamp(), covered.timestamp()
    found: list[str] = []
    with store.lock:
        for key, record in store.walk("modified", after=(low, "")):
            if key[0] >= high:
                break
            if not record.get("IsDeleted"):
                found.append(record["Id"])
    refused = _too_many(len(found), int(sandbox.config.sf_id_limit))
    if refused is not None:
        return refused
    return json_response({"ids": found, "latestDateCovered": format_sf_datetime(covered)})


@sf_endpoint()
def get_deleted(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str
) -> Response:
    store = org.store(sobject)
    if store is None:
        return not_found_error()
    days = int(sandbox.config.sf_get_deleted_days)
    try:
        start, _end, covered = _window(org, request, days)
    except _WindowError as refused:
        return refused.response
    log: list[dict[str, Any]] = org.deleted_log.get(store.sobject, [])
    deleted = []
    for entry in log:
        moment = parse_sf_datetime(entry["deletedDate"])
        if start <= moment < covered:
            record = store.get(entry["id"])
            if record is not None and not record.get("IsDeleted"):
                continue  # undeleted since
            deleted.append({"deletedDate": entry["deletedDate"], "id": entry["id"]})
    refused = _too_many(len(deleted), int(sandbox.config.sf_id_limit))
    if refused is not None:
        return refused
    earliest = _minute(org.now() - timedelta(days=days))
    if org.earliest_deleted_available is not None and org.earliest_deleted_available > earliest:
        earliest = org.earliest_deleted_available
    return json_response(
        {
            "deletedRecords": deleted,
            "earliestDateAvailable": format_sf_datetime(earliest),
            "latestDateCovered": format_sf_datetime(covered),
        }
    )


ROUTES = [
    ("/services/data/v<version>/sobjects/<sobject>/updated", ["GET"], get_updated),
    ("/services/data/v<version>/sobjects/<sobject>/deleted", ["GET"], get_deleted),
]
