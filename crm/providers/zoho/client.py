"""The one Zoho CRM v8 client: what the product asks of Zoho, over the transport in transport.py.

    client = ZohoClient(account=account, priority=Priority.INTERACTIVE)
    for lead in client.coql_iter(module="Leads", fields=["Last_Name", "Mobile"]):
        ...

Every method raises only `errors.ZohoError` subclasses. Limits followed (docs/vendors/zoho-crm.md): COQL pages of
2,000 with OFFSET up to 100,000 and keyset paging on (Modified_Time, id) beyond; Get Records with at most 50
fields per call (more are fetched in batches and merged by id) and `page_token` after the first page; writes of
at most 100 records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from crm.providers.zoho.errors import ZohoRecordError, ZohoRequestError
from crm.providers.zoho.limits import Priority
from crm.providers.zoho.transport import ZohoResponse, ZohoTransport

__all__ = ["COQL_MAX_LIMIT", "COQL_MAX_REACH", "FIELDS_PER_CALL", "Priority", "ZohoClient", "coql_cost"]

COQL_MAX_LIMIT = 2000  # records per COQL call (v8)
COQL_MAX_REACH = 100_000  # OFFSET + LIMIT (v8); beyond, keyset paging
FIELDS_PER_CALL = 50  # Get Records `fields` (v8)
PER_PAGE = 200  # Get Records, search, users, deleted records
WRITE_BATCH = 100  # records per insert, update, upsert or delete
BULK_READ_CREATE_COST = 50  # UNCONFIRMED for v8 (the sandbox's figure); counted so the budget stays honest
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$]*$")


def coql_cost(limit: int) -> int:
    """Credits of one COQL call by its LIMIT: 1 up to 200, 2 up to 1,000, 3 up to 2,000 (docs/vendors/zoho-crm.md,
    COQL)."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def _quote(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a Zoho API name: {name!r}")
    return name


class ZohoClient(ZohoTransport):
    """Zoho CRM for one account; `priority` says whether a person waits (interactive) or not (background)."""

    # --- COQL ---------------------------------------------------------------------------------------------------
    def coql(self, *, query: str, limit: int = 200) -> dict[str, Any] | None:
        """One COQL call; None when nothing matched (Zoho answers 204). `limit` is the query's, for its cost."""
        response = self.request(
            "POST", "/crm/v8/coql", json={"select_query": query}, cost=coql_cost(limit), idempotent=True
        )  # a read, though sent as POST: retried like a GET after a 5xx or timeout
        return response.body

    def coql_iter(
        self,
        *,
        module: str,
        fields: Iterable[str],
        where: str | None = None,
        page_size: int = COQL_MAX_LIMIT,
        max_reach: int = COQL_MAX_REACH,
    ) -> Iterator[dict[str, Any]]:
        """Every matching record once, ordered by (Modified_Time, id): OFFSET pages while Zoho allows them
        (OFFSET + LIMIT <= 100,000), then keyset pages after the last (Modified_Time, id) seen.

        `where` is a COQL condition (e.g. "Lead_Source = 'Web'"); it is bracketed with the keyset condition.
        Records edited while paging move past the cursor and are seen again later, with their new values; but
        on OFFSET pages the rows after an edited one shift up, so one record can be skipped. Callers that page
        while the data changes (a delta sync) pass `max_reach=0`: keyset from the first page, nothing skipped.
        """
        module = _identifier(module)
        columns = list(dict.fromkeys([_identifier(name) for name in fields if name != "id"] + ["Modified_Time"]))
        select = f"select {', '.join(columns)} from {module}"  # noqa: S608 (COQL to Zoho, names validated)
        order = "order by Modified_Time asc, id asc"
        offset = 0
        last: dict[str, Any] | None = None
        while True:
            if last is None and offset + page_size <= max_reach:
                criteria = f"({where})" if where else "id is not null"
                query = f"{select} where {criteria} {order} limit {offset}, {page_size}"
            else:
                if last is None:  # max_reach smaller than a page: keyset from the start
                    criteria = f"({where})" if where else "id is not null"
                else:
                    moment, record_id = _quote(last["Modified_Time"]), _quote(last["id"])
                    keyset = f"((Modified_Time > {moment}) or (Modified_Time = {moment} and id > {record_id}))"
                    criteria = f"(({where}) and {keyset})" if where else keyset
                query = f"{select} where {criteria} {order} limit {page_size}"
            body = self.coql(query=query, limit=page_size)
            rows = (body or {}).get("data") or []
            yield from rows
            if not rows or not (body.get("info") or {}).get("more_records"):
                return
            if last is not None or offset + 2 * page_size > max_reach:
                if last is not None and _cursor(rows[-1]) <= _cursor(last):
                    # A page that does not move the cursor would repeat forever (and burn the credit budget).
                    raise ZohoRequestError("COQL keyset paging did not advance", code="KEYSET_STALLED")
                last = rows[-1]  # keyset from here on
            else:
                offset += page_size

    # --- Get Records -------------------------------------------------------------------------------------------
    def records_list(
        self,
        *,
        module: str,
        fields: Iterable[str],
        sort_by: str = "id",
        sort_order: str = "asc",
        params: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Get Records with any number of fields: batches of 50 fields, each paged by `page_token`, merged by id.

        Get Records reaches 100,000 records at most (PAGINATION_LIMIT_EXCEEDED beyond); use `coql_iter` for more.
        """
        names = list(dict.fromkeys(name for name in fields if name != "id"))
        batches = [names[start : start + FIELDS_PER_CALL] for start in range(0, len(names), FIELDS_PER_CALL)] or [[]]
        merged: dict[str, dict[str, Any]] = {}
        for batch in batches:
            for record in self._records_pages(module, batch or ["id"], sort_by, sort_order, params or {}):
                merged.setdefault(record["id"], {"id": record["id"]}).update(record)
        return list(merged.values())

    def _records_pages(self, module, fields, sort_by, sort_order, params) -> Iterator[dict[str, Any]]:
        query = {**params, "fields": ",".join(fields), "per_page": PER_PAGE, "sort_by": sort_by}
        query["sort_order"] = sort_order
        page_token: str | None = None
        while True:
            response = self.request(
                "GET",
                f"/crm/v8/{_identifier(module)}",
                params={**query, "page_token": page_token} if page_token else {**query, "page": 1},
            )
            if response.body is None:
                return
            yield from response.body.get("data") or []
            info = response.body.get("info") or {}
            page_token = info.get("next_page_token")
            if not info.get("more_records") or not page_token:
                return

    def record_get(self, *, module: str, record_id: str, fields: Iterable[str] | None = None) -> dict[str, Any] | None:
        """One record, or None when Zoho has no such record (204)."""
        params = {"fields": ",".join(fields)} if fields else None
        response = self.request("GET", f"/crm/v8/{_identifier(module)}/{int(record_id)}", params=params)
        return (response.body or {}).get("data", [None])[0] if response.body else None

    def records_search_by_phone(self, *, module: str, phone: str) -> list[dict[str, Any]]:
        """Records whose phone fields hold `phone`, tried as given and as a national number (Zoho compares
        digits, so "+14155550123" and "(415) 555-0123" are different searches)."""
        digits = re.sub(r"\D", "", phone)
        forms = [phone]
        if phone.startswith("+1") and len(digits) == 11:
            forms.append(digits[1:])
        found: dict[str, dict[str, Any]] = {}
        for form in forms:
            page = 1
            while True:
                response = self.request(
                    "GET",
                    f"/crm/v8/{_identifier(module)}/search",
                    params={"phone": form, "page": page, "per_page": PER_PAGE},
                )
                if response.body is None:
                    break
                for record in response.body.get("data") or []:
                    found.setdefault(record["id"], record)
                if not (response.body.get("info") or {}).get("more_records") or page * PER_PAGE >= 2000:
                    break
                page += 1
        return list(found.values())

    # --- writes ------------------------------------------------------------------------------------------------
    def records_insert(
        self, *, module: str, records: list[dict[str, Any]], trigger: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Insert records (batches of 100); Zoho's per-record results in input order. Raises ZohoRecordError
        when any record failed (its `results` show which). `trigger=()` keeps workflows from firing."""
        return self._records_write("POST", module, records, trigger, idempotent=False, what="records")

    def records_update(
        self, *, module: str, records: list[dict[str, Any]], trigger: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Update records by `id` (batches of 100); an update with the same values is harmless to repeat, so it
        is retried like a read. Raises ZohoRecordError when any record failed."""
        return self._records_write("PUT", module, records, trigger, idempotent=True, what="updates")

    def records_upsert(
        self,
        *,
        module: str,
        records: list[dict[str, Any]],
        duplicate_check_fields: Iterable[str],
        trigger: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Insert or update records matched by `duplicate_check_fields` (batches of 100); each success entry says
        `action` ("insert" or "update"). Matching by a unique field makes a repeat harmless, so it is retried like
        a read. Raises ZohoRecordError when any record failed."""
        checks = list(duplicate_check_fields)
        return self._records_write(
            "POST",
            module,
            records,
            trigger,
            idempotent=True,
            what="upserts",
            suffix="/upsert",
            extra={"duplicate_check_fields": checks} if checks else None,
        )

    def records_delete(self, *, module: str, record_ids: list[str]) -> list[dict[str, Any]]:
        """Delete records to the recycle bin (100 ids a call); Zoho's per-id results. Raises ZohoRecordError when
        any id failed (INVALID_DATA for an id Zoho has no live record of)."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(record_ids), WRITE_BATCH):
            ids = ",".join(str(int(record_id)) for record_id in record_ids[start : start + WRITE_BATCH])
            response = self.request("DELETE", f"/crm/v8/{_identifier(module)}", params={"ids": ids}, cost=1)
            results.extend((response.body or {}).get("data") or [])
        if any(entry.get("status") != "success" for entry in results):
            raise ZohoRecordError(f"Zoho refused some {module} deletes", results=results, status=207)
        return results

    def _records_write(
        self,
        method: str,
        module: str,
        records: list[dict[str, Any]],
        trigger: Iterable[str],
        *,
        idempotent: bool,
        what: str,
        suffix: str = "",
        extra: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(records), WRITE_BATCH):
            try:
                response = self.request(
                    method,
                    f"/crm/v8/{_identifier(module)}{suffix}",
                    json={"data": records[start : start + WRITE_BATCH], "trigger": list(trigger), **(extra or {})},
                    cost=1,
                    idempotent=idempotent,
                )
            except ZohoRecordError as exc:  # every record of this batch refused: the later batches still go
                results.extend(exc.results)
                continue
            results.extend((response.body or {}).get("data") or [])
        if any(entry.get("status") != "success" for entry in results):
            raise ZohoRecordError(f"Zoho refused some {module} {what}", results=results, status=207)
        return results

    def task_create(
        self,
        *,
        subject: str,
        due_date: str | None = None,
        owner_id: str | None = None,
        what_id: str | None = None,
        what_module: str | None = None,
        who_id: str | None = None,
        status: str = "Not Started",
        priority: str = "High",
        description: str = "",
        trigger: Iterable[str] = (),
    ) -> str:
        """A task (e.g. follow up a new lead); returns its id. `what_id` needs `what_module` ($se_module)."""
        if what_id and not what_module:
            raise ValueError("what_module ($se_module) is required with what_id")
        task: dict[str, Any] = {"Subject": subject, "Status": status, "Priority": priority}
        if due_date:
            task["Due_Date"] = due_date
        if owner_id:
            task["Owner"] = {"id": owner_id}
        if what_id:
            task.update({"What_Id": {"id": what_id}, "$se_module": what_module})
        if who_id:
            task["Who_Id"] = {"id": who_id}
        if description:
            task["Description"] = description
        return self.records_insert(module="Tasks", records=[task], trigger=trigger)[0]["details"]["id"]

    def note_create(self, *, parent_module: str, parent_id: str, content: str, title: str = "") -> str:
        """A note on a record (v8 `Parent_Id.module` form); returns its id."""
        note: dict[str, Any] = {
            "Note_Content": content,
            "Parent_Id": {"module": {"api_name": parent_module}, "id": parent_id},
        }
        if title:
            note["Note_Title"] = title
        return self.records_insert(module="Notes", records=[note])[0]["details"]["id"]

    # --- users, org, metadata ---------------------------------------------------------------------------------
    def users_list(self, *, type: str = "ActiveUsers") -> list[dict[str, Any]]:
        """CRM users of a `type` (ActiveUsers, AllUsers, CurrentUser, ...), every page."""
        users: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.request("GET", "/crm/v8/users", params={"type": type, "page": page, "per_page": PER_PAGE})
            if response.body is None:
                return users
            users.extend(response.body.get("users") or [])
            if not (response.body.get("info") or {}).get("more_records"):
                return users
            page += 1

    def user_current(self) -> dict[str, Any] | None:
        """The CRM user who authorised the connection (the token's owner)."""
        users = self.users_list(type="CurrentUser")
        return users[0] if users else None

    def org_get(self) -> dict[str, Any]:
        """The Zoho CRM org the token belongs to (`id` is the Zoho org id)."""
        body = self.request("GET", "/crm/v8/org").body or {}
        return (body.get("org") or [{}])[0]

    def fields_get(self, *, module: str) -> list[dict[str, Any]]:
        """Field metadata of a module (api_name, data_type, json_type, pick_list_values, lookup, ...)."""
        body = self.request("GET", "/crm/v8/settings/fields", params={"module": _identifier(module)}).body or {}
        return body.get("fields") or []

    def deleted_records(
        self, *, module: str, type: str = "all", since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Deleted records (recycle bin and permanent), optionally only those deleted after `since`."""
        headers = {"If-Modified-Since": since.replace(microsecond=0).isoformat()} if since else None
        page = 1
        while True:
            response = self.request(
                "GET",
                f"/crm/v8/{_identifier(module)}/deleted",
                params={"type": type, "page": page, "per_page": PER_PAGE},
                headers=headers,
            )
            if response.body is None:
                return
            yield from response.body.get("data") or []
            if not (response.body.get("info") or {}).get("more_records"):
                return
            page += 1

    # --- Bulk Read ---------------------------------------------------------------------------------------------
    def bulk_read_create(
        self,
        *,
        module: str,
        fields: Iterable[str] = (),
        criteria: dict[str, Any] | None = None,
        page: int = 1,
        page_token: str | None = None,
        callback_url: str | None = None,
    ) -> dict[str, Any]:
        """Start an export job; returns its details (`id`, `state`: ADDED). `page_token` (a completed job's
        `result.next_page_token`) asks for the records after that job's, instead of `page`."""
        query: dict[str, Any] = {"module": {"api_name": _identifier(module)}}
        query.update({"page_token": page_token} if page_token else {"page": page})
        if fields:
            query["fields"] = list(fields)
        if criteria:
            query["criteria"] = criteria
        body: dict[str, Any] = {"query": query, "file_type": "csv"}
        if callback_url:
            body["callback"] = {"url": callback_url, "method": "post"}
        response = self.request("POST", "/crm/bulk/v8/read", json=body, cost=BULK_READ_CREATE_COST, idempotent=False)
        return _first_data(response)["details"]

    def bulk_read_get(self, *, job_id: str) -> dict[str, Any]:
        """A job's details: `state` ADDED, QUEUED, IN PROGRESS, COMPLETED (then `result.download_url`)."""
        return _first_data(self.request("GET", f"/crm/bulk/v8/read/{int(job_id)}"))

    def bulk_read_download(self, *, job_id: str) -> bytes:
        """The completed job's ZIP (one CSV with an `id` column)."""
        return self.request("GET", f"/crm/bulk/v8/read/{int(job_id)}/result", raw=True, timeout=(5.0, 300.0)).content

    # --- Notifications (watch) ---------------------------------------------------------------------------------
    def watch_enable(
        self,
        *,
        channel_id: int,
        events: Iterable[str],
        notify_url: str,
        token: str,
        expires_at: datetime,
        return_affected_field_values: bool = False,
    ) -> dict[str, Any]:
        """Subscribe a channel to events like "Leads.all"; `token` (<= 50 chars) comes back in every callback."""
        item = _watch_item(channel_id, events, notify_url, token, expires_at)
        item["return_affected_field_values"] = return_affected_field_values
        return self._watch("POST", item)

    def watch_renew(
        self, *, channel_id: int, events: Iterable[str], notify_url: str, token: str, expires_at: datetime
    ) -> dict[str, Any]:
        """Push a live channel's expiry out (PATCH); a lapsed channel answers an error and must be re-enabled."""
        return self._watch("PATCH", _watch_item(channel_id, events, notify_url, token, expires_at))

    def watch_disable(self, *, channel_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Unsubscribe channels."""
        ids = ",".join(str(int(channel_id)) for channel_id in channel_ids)
        response = self.request("DELETE", "/crm/v8/actions/watch", params={"channel_ids": ids})
        return (response.body or {}).get("watch") or []

    def watch_list(self) -> list[dict[str, Any]]:
        """Live channels of the org."""
        response = self.request("GET", "/crm/v8/actions/watch")
        return (response.body or {}).get("watch") or []

    def _watch(self, method: str, item: dict[str, Any]) -> dict[str, Any]:
        response = self.request(method, "/crm/v8/actions/watch", json={"watch": [item]})
        entry = ((response.body or {}).get("watch") or [{}])[0]
        if entry.get("status") != "success":
            raise ZohoRecordError(f"Zoho refused the watch channel: {entry.get('code')}", results=[entry])
        return entry


def _cursor(record: dict[str, Any]) -> tuple[datetime, int]:
    return datetime.fromisoformat(record["Modified_Time"]), int(record["id"])


def _watch_item(channel_id: int, events: Iterable[str], notify_url: str, token: str, expires_at: datetime):
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return {
        "channel_id": int(channel_id),
        "events": list(events),
        "notify_url": notify_url,
        "token": token,
        "channel_expiry": expires_at.replace(microsecond=0).isoformat(),
    }


def _first_data(response: ZohoResponse) -> dict[str, Any]:
    data = (response.body or {}).get("data") or []
    if not data:
        raise ZohoRequestError("Zoho answered without data", status=response.status)
    return data[0]
