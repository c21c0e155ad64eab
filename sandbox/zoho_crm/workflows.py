"""Workflow rules with webhook actions, and `GET /crm/v8/settings/automation/webhook_failures`.

Rules are configured through the control API (in Zoho a person builds them in Setup > Automation):

    POST /_sandbox/zoho/workflows {"url": "http://127.0.0.1:8000/webhooks/zoho/lead/?secret=s3cret"}

creates the "new lead" webhook (module Leads, on create, POST, raw JSON body
`{"lead_id":"${!Leads.Id}","email":"${!Leads.Email}","owner":"${!Leads.Owner}"}`, docs/vendors/zoho-crm.md, Workflow
webhooks). Every key can be given: module, on ("create" | "edit" | "create_or_edit", or a list of create/edit), url,
method (POST, PUT, GET, DELETE), headers (static custom parameters, <= 10, no Host), module_parameters
(name -> merge token, <= 25), form_data (name -> text with merge tokens), raw_json (<= 500 chars with merge
tokens), name, fields (edit: only when one of them changed), criteria (the Bulk Read criteria shape) and
repeat (edit rules run once per record unless repeat is true, as Zoho's "Repeat this workflow" box).
`GET` lists the rules, `DELETE /_sandbox/zoho/workflows[/<id>]` removes them.

A rule fires on an insert or update of its module made in the UI or the control API, and on one made through
the REST API only when that call's `trigger` included "workflow" (ChangeEvent.by_api / triggers). Merge
tokens `${!Leads.Field}` take the record's values at the moment of the change: lookups (Owner) render as their
name, `${!Leads.Owner.id}` / `.email` reach into the lookup, `${!Leads.Id}` is the record id, an unknown or
empty field renders as nothing, values are pasted in as they are (no JSON escaping). The call goes out through
the sandbox's asynchronous sender with no signature (Zoho signs nothing); a connection error or a non-2xx
answer is listed by the webhook_failures endpoint.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import structlog
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content, request_json, zoho_error
from sandbox.zoho_crm.bulk import CriteriaError, Predicate, compile_criteria, module_id, org_prefix
from sandbox.zoho_crm.calls import crm_endpoint
from sandbox.zoho_crm.store import IdSequence, display_name, format_zoho_datetime

if TYPE_CHECKING:
    from sandbox.kit.delivery import Delivery
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg
    from sandbox.zoho_crm.store import ChangeEvent

logger = structlog.get_logger(__name__)

METHODS = ("POST", "PUT", "GET", "DELETE")
TRIGGERS = ("create", "edit", "create_or_edit")
RAW_MAX_LENGTH = 500
MAX_CUSTOM_HEADERS = 10
MAX_MODULE_PARAMETERS = 25
FAILURE_DAYS_DEFAULT = 30
FAILURE_SPAN_MAX_DAYS = 90
MERGE_TOKEN = re.compile(r"\$\{!?([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)\}")
# Reasons Zoho writes in failure_reason: only "page_notfound" (404) is from its docs (docs/vendors/zoho-crm.md, Workflow
# webhooks); the rest are ours.
FAILURE_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "page_notfound",
    405: "method_not_allowed",
    408: "timeout",
    413: "payload_too_large",
    429: "too_many_requests",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def _default_body(module: str) -> str:
    if module == "Leads":
        return '{"lead_id":"${!Leads.Id}","email":"${!Leads.Email}","owner":"${!Leads.Owner}"}'
    return '{"id":"${!' + module + '.Id}","module":"' + module + '"}'


@dataclass
class WorkflowRule:
    id: str
    webhook_id: str
    org_id: str
    name: str
    webhook_name: str
    module: str
    on: str
    url: str
    method: str
    headers: dict[str, str]
    module_parameters: dict[str, str]
    form_data: dict[str, str]
    raw_json: str | None
    fields: list[str]
    criteria: Any
    predicate: Predicate | None
    repeat: bool
    created_time: str
    fired: set[str] = field(default_factory=set)
    calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "org_id": self.org_id,
            "module": self.module,
            "on": self.on,
            "fields": self.fields,
            "criteria": self.criteria,
            "repeat": self.repeat,
            "webhook": {
                "id": self.webhook_id,
                "name": self.webhook_name,
                "url": self.url,
                "method": self.method,
                "headers": self.headers,
                "module_parameters": self.module_parameters,
                "form_data": self.form_data,
                "raw_json": self.raw_json,
            },
            "created_time": self.created_time,
            "calls": self.calls,
        }


class WorkflowState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.rules: dict[str, WorkflowRule] = {}
        self.failures: list[dict[str, Any]] = []  # oldest first; "_org_id" and "_at" are ours, not Zoho's
        self._ids = IdSequence(start=9_100_000)
        self._lock = threading.Lock()

    # --- configuration ------------------------------------------------------------------------------------
    def add(self, org: ZohoOrg, spec: dict[str, Any]) -> WorkflowRule:
        """Create a rule from the control API's JSON; raises ValueError with a readable reason."""
        module = str(spec.get("module") or "Leads")
        on = _trigger(spec.get("on", ["create"]))
        url = spec.get("url")
        if not isinstance(url, str) or not re.match(r"^(https?://|www\.|\$\{)", url) or len(url) > 2000:
            raise ValueError("url is required: http(s)://..., www.... or a merge token, at most 2000 characters")
        method = str(spec.get("method") or spec.get("http_method") or "POST").upper()
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        headers = _text_map(spec.get("headers"), "headers")
        if len(headers) > MAX_CUSTOM_HEADERS:
            raise ValueError(f"at most {MAX_CUSTOM_HEADERS} custom headers")
        if any(name.lower() == "host" for name in headers):
            raise ValueError("the Host header is not allowed")
        module_parameters = _text_map(spec.get("module_parameters"), "module_parameters")
        if len(module_parameters) > MAX_MODULE_PARAMETERS:
            raise ValueError(f"at most {MAX_MODULE_PARAMETERS} module parameters")
        form_data = _text_map(spec.get("form_data"), "form_data")
        raw_json = spec.get("raw_json")
        if raw_json is not None and not isinstance(raw_json, str):
            raise ValueError("raw_json must be a string (a template with ${!Module.Field} merge tokens)")
        if raw_json is not None and (module_parameters or form_data) and method in ("POST", "PUT"):
            raise ValueError("a body is either raw_json or form data (form_data / module_parameters), not both")
        if raw_json is None and not (module_parameters or form_data) and method in ("POST", "PUT"):
            raw_json = _default_body(module)
        if raw_json is not None and len(raw_json) > RAW_MAX_LENGTH:
            raise ValueError(f"raw_json is limited to {RAW_MAX_LENGTH} characters")
        fields = spec.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
            raise ValueError("fields must be a list of field API names")
        predicate = None
        if spec.get("criteria"):
            try:
                predicate = compile_criteria(spec["criteria"])
            except CriteriaError as exc:
                raise ValueError(f"criteria: {exc.message} {exc.details}") from None
        rule_id, webhook_id = self._ids.next(), self._ids.next()
        name = str(spec.get("name") or f"{module} {on.replace('_', ' ')} webhook")
        rule = WorkflowRule(
            id=rule_id,
            webhook_id=webhook_id,
            org_id=org.org_id,
            name=name,
            webhook_name=str(spec.get("webhook_name") or name),
            module=module,
            on=on,
            url=url,
            method=method,
            headers=headers,
            module_parameters=module_parameters,
            form_data=form_data,
            raw_json=raw_json,
            fields=list(fields),
            criteria=spec.get("criteria"),
            predicate=predicate,
            repeat=bool(spec.get("repeat", False)),
            created_time=format_zoho_datetime(self.sandbox.clock.now(), org.tz),
        )
        with self._lock:
            self.rules[rule.id] = rule
        return rule

    # --- firing -------------------------------------------------------------------------------------------
    def handle(self, org: ZohoOrg, event: ChangeEvent) -> None:
        if event.operation not in ("insert", "update"):
            return
        if event.by_api and "workflow" not in event.triggers:
            return  # REST writes run workflow rules only when asked to (trigger: ["workflow"])
        wanted = ("create", "create_or_edit") if event.operation == "insert" else ("edit", "create_or_edit")
        with self._lock:
            rules = [
                rule
                for rule in self.rules.values()
                if rule.org_id == org.org_id and rule.module == event.kind and rule.on in wanted
            ]
        store = org.module(event.kind)
        if not rules or store is None:
            return
        for record_id in event.ids:
            record = store.get(record_id)
            if record is None:
                continue
            changed = set(event.affected_fields.get(record_id, ()))
            for rule in rules:
                if event.operation == "update" and rule.fields and not changed & set(rule.fields):
                    continue
                if rule.predicate is not None and not rule.predicate(record):
                    continue
                if rule.on != "create" and not rule.repeat:
                    with self._lock:
                        if record_id in rule.fired:
                            continue
                        rule.fired.add(record_id)
                self._fire(org, rule, record)

    def _fire(self, org: ZohoOrg, rule: WorkflowRule, record: dict[str, Any]) -> None:
        def render(text: str) -> str:
            return render_merge_fields(text, rule.module, record, org)

        url = render(rule.url)
        headers = {name: render(value) for name, value in rule.headers.items()}
        parameters = {name: render(value) for name, value in {**rule.module_parameters, **rule.form_data}.items()}
        delivery: dict[str, Any] = {"kind": "zoho_workflow_webhook", "method": rule.method}
        if rule.method in ("GET", "DELETE"):
            url = _with_params(url, parameters)
        elif rule.raw_json is not None:
            headers.setdefault("Content-Type", "application/json")
            delivery["data"] = render(rule.raw_json)  # a str: urllib3 sends it as UTF-8, the outbox can list it
        elif parameters:
            delivery["data"] = parameters
        entity = {
            "module": {"api_name": rule.module, "id": module_id(rule.module, org_prefix(org))},
            "name": _entity_name(record),
            "id": record["id"],
        }
        with self._lock:
            rule.calls += 1
        self.sandbox.sender.submit(
            url=url,
            headers=headers,
            on_done=lambda sent: self._done(org, rule, entity, sent),
            **delivery,
        )

    def _done(self, org: ZohoOrg, rule: WorkflowRule, entity: dict[str, Any], sent: Delivery) -> None:
        try:
            if sent.error is None and sent.status is not None and 200 <= sent.status < 300:
                return
            now = self.sandbox.clock.now()
            failure = {
                "webhook": {"name": rule.webhook_name, "id": rule.webhook_id},
                "entity_details": entity,
                "failure_time": format_zoho_datetime(now, org.tz),
                "failure_reason": failure_reason(sent),
                "workflow_rule": {"name": rule.name, "id": rule.id},
                "_org_id": org.org_id,
                "_at": now,
            }
            with self._lock:
                self.failures.append(failure)
        except Exception:  # never let bookkeeping kill the sandbox's delivery thread
            logger.exception("sandbox_workflow_failure_record_failed")

    def failures_for(self, org: ZohoOrg) -> list[dict[str, Any]]:
        with self._lock:
            return [failure for failure in self.failures if failure["_org_id"] == org.org_id]


def _entity_name(record: dict[str, Any]) -> str | None:
    """The record's name as Zoho shows it: Full_Name (first and last name when not stored), else its name field."""
    if not record.get("Full_Name") and record.get("Last_Name"):
        return " ".join(str(record[key]) for key in ("First_Name", "Last_Name") if record.get(key))
    return display_name(record)


def failure_reason(sent: Delivery) -> str:
    if sent.error is not None:
        lowered = sent.error.lower()
        if "timeout" in lowered or "timed out" in lowered:
            return "timeout"
        return "connection_refused"
    if sent.status is None:
        return "unknown"
    return FAILURE_REASONS.get(sent.status, f"http_{sent.status}")


# --- merge fields -------------------------------------------------------------------------------------------
def render_merge_fields(text: str, module: str, record: dict[str, Any], org: ZohoOrg) -> str:
    """Replace `${!Module.Field}` tokens of the rule's module with the record's values; others stay as they are."""

    def replace(match: re.Match[str]) -> str:
        token_module, path = match.groups()
        if token_module != module:
            return match.group(0)
        return merge_value(record, path, org)

    return MERGE_TOKEN.sub(replace, text)


def merge_value(record: dict[str, Any], path: str, org: ZohoOrg) -> str:
    base, _, sub = path.partition(".")
    key = base if base in record else next((name for name in record if name.lower() == base.lower()), None)
    value = record.get(key) if key is not None else None
    if sub:
        if not isinstance(value, dict):
            return ""
        if sub in value:
            value = value[sub]
        else:
            user = org.users.get(str(value.get("id")))
            value = user.get(sub) if user else None
    return _merge_text(value)


def _merge_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    # lookups render as their name (UNCONFIRMED; docs/vendors/zoho-crm.md, Workflow webhooks)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or "")
    if isinstance(value, list):
        return ",".join(_merge_text(item) for item in value)
    return str(value)


def _with_params(url: str, parameters: dict[str, str]) -> str:
    if not parameters:
        return url
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(parameters)) if part)
    return urlunsplit(parts._replace(query=query))


def _trigger(value: Any) -> str:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(name in TRIGGERS for name in names):
        raise ValueError('on must be "create", "edit", "create_or_edit" or a list of "create"/"edit"')
    if "create_or_edit" in names or {"create", "edit"} <= set(names):
        return "create_or_edit"
    return names[0]


def _text_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValueError(f"{name} must be an object of names to values")
    return {key: "" if item is None else str(item) for key, item in value.items()}


# --- the Zoho endpoint --------------------------------------------------------------------------------------
def _date_param(request: Request, name: str) -> date | str | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return name


@crm_endpoint(scope="ZohoCRM.settings.automation_actions.READ", credits=1)
def webhook_failures(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    today = sandbox.clock.now().astimezone(org.tz).date()
    start, end = _date_param(request, "from"), _date_param(request, "to")
    for name, value in (("from", start), ("to", end)):
        if isinstance(value, str):
            return zoho_error("INVALID_DATA", "invalid data", details={"param_name": name, "format": "YYYY-MM-DD"})
    end = end if isinstance(end, date) else today
    start = start if isinstance(start, date) else end - timedelta(days=FAILURE_DAYS_DEFAULT)
    if start > end or (end - start).days > FAILURE_SPAN_MAX_DAYS:
        return zoho_error(
            "INVALID_DATA",
            "the span between from and to may not exceed 90 days",
            details={"param_name": "from", "maximum_days": FAILURE_SPAN_MAX_DAYS},
        )
    try:
        page = max(int(request.args.get("page", 1)), 1)
        per_page = min(max(int(request.args.get("per_page", 200)), 1), 200)
    except ValueError:
        return zoho_error("INVALID_DATA", "invalid data", details={"param_name": "page"})
    low = datetime.combine(start, time.min, tzinfo=org.tz)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=org.tz)
    webhook_id, module = request.args.get("webhook_id"), request.args.get("module")
    matching = [
        failure
        for failure in reversed(sandbox.crm.workflows.failures_for(org))
        if low <= failure["_at"] < high
        and webhook_id in (None, "", failure["webhook"]["id"])
        and module in (None, "", failure["entity_details"]["module"]["api_name"])
    ]
    chunk = matching[(page - 1) * per_page : page * per_page]
    if not chunk:
        return no_content()
    return json_response(
        {
            "webhook_failures": [{k: v for k, v in failure.items() if not k.startswith("_")} for failure in chunk],
            "info": {
                "per_page": per_page,
                "count": len(chunk),
                "page": page,
                "more_records": len(matching) > page * per_page,
            },
        }
    )


# --- the control API ----------------------------------------------------------------------------------------
def _org_for(sandbox: SandboxState, spec: dict[str, Any]) -> ZohoOrg | None:
    orgs = sandbox.crm.orgs
    if spec.get("org_id"):
        return orgs.get(str(spec["org_id"]))
    return next(iter(orgs.values()), None)


def control_rules(sandbox: SandboxState, request: Request) -> Response:
    state = sandbox.crm.workflows
    if request.method == "POST":
        spec = request_json(request)
        if not isinstance(spec, dict):
            return json_response({"error": "a JSON object describing the rule is required"}, 400)
        org = _org_for(sandbox, spec)
        if org is None:
            return json_response({"error": "no such Zoho org"}, 400)
        try:
            rule = state.add(org, spec)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(rule.as_dict(), 201)
    if request.method == "DELETE":
        with state._lock:
            state.rules.clear()
        return json_response([])
    return json_response([rule.as_dict() for rule in list(state.rules.values())])


def control_rule(sandbox: SandboxState, request: Request, rule_id: str) -> Response:
    state = sandbox.crm.workflows
    rule = state.rules.get(rule_id)
    if rule is None:
        return json_response({"error": "no such workflow rule", "id": rule_id}, 404)
    if request.method == "DELETE":
        with state._lock:
            state.rules.pop(rule_id, None)
    return json_response(rule.as_dict())


ROUTES = [
    ("/crm/v8/settings/automation/webhook_failures", ["GET"], webhook_failures),
    ("/_sandbox/zoho/workflows", ["GET", "POST", "DELETE"], control_rules),
    ("/_sandbox/zoho/workflows/<rule_id>", ["GET", "DELETE"], control_rule),
]
