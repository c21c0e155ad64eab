"""What Dataverse checks on an API write beyond the columns' own types, and what the emulator tallies of them:

- Alternate keys are unique: a create or an update that would give a row the key values another row holds is
  refused with DuplicateRecordEntityKey (`0x80060892`, "A record that has the attribute values ... already exists.
  The entity key ... requires that this set of attributes contains unique values."; the code is Dataverse's
  published one, the HTTP status 400 is UNCONFIRMED).
- Plug-in refusals: a synchronous plug-in (or a real-time workflow) a customer registered on a table that throws
  InvalidPluginExecutionException when a write sets a column; Dataverse answers 400 with code `0x80040265`
  (IsvAborted) and the plug-in's own message (UNCONFIRMED: the status as seen from the Web API). Tests switch them
  on and off per table (`refuse`, `allow`, or the control API below); only Web API writes meet them, as only those
  are the app's (a person's edits in the control API are the people's own).
- The `records_written` tally (the kit's counters): +1 per row the Web API created, updated, upserted or deleted;
  a refused row counts none, and a change set's rows count only when the change set commits (`deferred_tally`).

Control API: `POST .../environments/<env>/tables/<table>/refusals` {column, message} switches a refusal on;
`DELETE .../refusals` removes every refusal of the table; `GET` lists them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.dynamics.calls import problem
from sandbox.kit.http import json_response

if TYPE_CHECKING:
    from sandbox.dynamics.state import Environment, Row, Table
    from sandbox.state import SandboxState

TALLY = "records_written"
PLUGIN_ABORTED = "0x80040265"  # IsvAborted: InvalidPluginExecutionException thrown by a plug-in
DUPLICATE_KEY = "0x80060892"  # DuplicateRecordEntityKey
REFUSALS = "plugin_refusals"  # environment.extra: {table: {column: message}}

_pending = threading.local()


# --- the tally -----------------------------------------------------------------------------------------------------
def written(sandbox: SandboxState, count: int = 1) -> None:
    """Rows written through the Web API: tallied now, or when the enclosing change set commits."""
    held = getattr(_pending, "counts", None)
    if held:
        held[-1] += count
        return
    sandbox.counters[TALLY] += count


@contextmanager
def deferred_tally(sandbox: SandboxState) -> Iterator[None]:
    """Rows written inside (a change set) are tallied only if the block ends without an exception."""
    stack = getattr(_pending, "counts", None)
    if stack is None:
        stack = _pending.counts = []
    stack.append(0)
    committed = False
    try:
        yield
        committed = True
    finally:
        count = stack.pop()
        if committed and count:
            written(sandbox, count)


# --- plug-in refusals ------------------------------------------------------------------------------------------------
def refusals(environment: Environment) -> dict[str, dict[str, str]]:
    return environment.extra.setdefault(REFUSALS, {})


def refuse(environment: Environment, table: str, column: str, message: str) -> None:
    """From now on a Web API write of `table` that sets `column` is refused with `message`."""
    with environment.lock:
        refusals(environment).setdefault(table, {})[column] = message


def allow(environment: Environment, table: str) -> None:
    with environment.lock:
        refusals(environment).pop(table, None)


def check_refusals(environment: Environment, table: Table, values: dict[str, Any]) -> None:
    """The first refusal a write's values meet, as the plug-in's 400."""
    for column, message in refusals(environment).get(table.logical_name, {}).items():
        if column in values:
            raise problem(400, PLUGIN_ABORTED, message)


# --- alternate keys --------------------------------------------------------------------------------------------------
def check_keys(table: Table, values: dict[str, Any], existing: Row | None) -> None:
    """DuplicateRecordEntityKey when the row (as it would be after the write) holds an alternate key's values that
    another row holds."""
    merged = {**(existing or {}), **values}
    own_id = existing[table.primary_id] if existing else None
    for name, columns in table.alternate_keys.items():
        if not any(column in values for column in columns):
            continue
        key = {column: merged.get(column) for column in columns}
        if any(value is None or value == "" for value in key.values()):
            continue
        other = table.find_by_key(key)
        if other is not None and other[table.primary_id] != own_id:
            described = ",".join(str(value) for value in key.values())
            raise problem(
                400,
                DUPLICATE_KEY,
                f"A record that has the attribute values {described} already exists. The entity key {name} requires "
                "that this set of attributes contains unique values. Select unique values and try again.",
            )


# --- control API -------------------------------------------------------------------------------------------------
def refusal_list(sandbox: SandboxState, request: Request, env: str, table: str) -> Response:
    from sandbox.dynamics import control

    return control.controlled(_refusal_list)(sandbox, request, env=env, table=table)


def _refusal_list(sandbox: SandboxState, request: Request, env: str, table: str) -> Response:
    from sandbox.dynamics.control import Refused, body_of, environment_of, table_of

    environment = environment_of(sandbox, env)
    found = table_of(environment, table)
    if request.method == "POST":
        body = body_of(request)
        column, message = body.get("column"), body.get("message")
        if not isinstance(column, str) or found.attribute(column) is None or not isinstance(message, str):
            raise Refused(f"give a column of {found.logical_name} and a message")
        refuse(environment, found.logical_name, column, message)
    elif request.method == "DELETE":
        allow(environment, found.logical_name)
    return json_response(refusals(environment).get(found.logical_name, {}))


CONTROL_ROUTES = [
    ("/_sandbox/dynamics/environments/<env>/tables/<table>/refusals", ["GET", "POST", "DELETE"], refusal_list),
]
