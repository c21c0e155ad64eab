"""Users, field metadata and the org (docs/vendors/zoho-crm.md, Users and Field metadata; crm-oas users.json,
fields.json, org examples).

- `GET /crm/v8/users?type=...` → `{"users": [...], "info": {per_page, count, page, more_records}}`;
  `type=CurrentUser` is the user who owns the OAuth token; `GET /crm/v8/users/{id}`. Scope ZohoCRM.users.READ.
- `GET /crm/v8/settings/fields?module=X` → `{"fields": [...]}`, `GET /crm/v8/settings/fields/{id}?module=X`.
  Scope ZohoCRM.settings.fields.READ (ZohoCRM.settings.ALL covers it).
- `GET /crm/v8/settings/modules` → the modules the sandbox has. Scope ZohoCRM.settings.modules.READ.
- `GET /crm/v8/org` → `{"org": [{id, company_name, time_zone, currency, ...}]}`. Scope ZohoCRM.org.READ.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content, zoho_error
from sandbox.state import SandboxState
from sandbox.zoho_crm import schema
from sandbox.zoho_crm.calls import crm_endpoint, param_error
from sandbox.zoho_crm.orgs import ZohoOrg

USER_TYPES = {
    "AllUsers": lambda user, me: True,
    "ActiveUsers": lambda user, me: user["status"] == "active",
    "DeactiveUsers": lambda user, me: user["status"] in ("inactive", "disabled"),
    "DeletedUsers": lambda user, me: user["status"] == "deleted",
    "ConfirmedUsers": lambda user, me: user["confirm"],
    "NotConfirmedUsers": lambda user, me: not user["confirm"],
    "AdminUsers": lambda user, me: user["profile"]["name"] == "Administrator",
    "ActiveConfirmedAdmins": lambda user, me: (
        user["profile"]["name"] == "Administrator" and user["status"] == "active" and user["confirm"]
    ),
    "ActiveConfirmedUsers": lambda user, me: user["status"] == "active" and user["confirm"],
    "DeveloperUsers": lambda user, me: False,
    "AllActiveUsers": lambda user, me: user["status"] == "active",
    "ActiveLiteUser": lambda user, me: False,
    "ActiveAndDeactive": lambda user, me: user["status"] in ("active", "inactive", "disabled"),
    "CurrentUser": lambda user, me: user["id"] == me["id"],
    "ChildRoleUsers": lambda user, me: False,
    "ParentRoleUsers": lambda user, me: False,
    "SubordinateRoleUsers": lambda user, me: False,
    "ConfirmedReportingUsers": lambda user, me: False,
}


@crm_endpoint(scope="ZohoCRM.users.READ")
def get_users(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    args = request.args
    kind = args.get("type", "AllUsers")
    if kind not in USER_TYPES:
        return zoho_error(
            "PATTERN_NOT_MATCHED", "Please check whether the input values are correct", details={"api_name": "type"}
        )
    try:
        page, per_page = int(args.get("page", 1)), int(args.get("per_page", 200))
    except ValueError:
        return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "page"})
    if page < 1 or not 1 <= per_page <= 200:
        return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "per_page"})
    ids = {value.strip() for value in args.get("ids", "").split(",") if value.strip()}
    chosen = [
        candidate
        for candidate in org.users.values()
        if USER_TYPES[kind](candidate, user) and (not ids or candidate["id"] in ids)
    ]
    start = (page - 1) * per_page
    chunk = chosen[start : start + per_page]
    if not chunk:
        return no_content()
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": start + per_page < len(chosen)}
    return json_response({"users": chunk, "info": info})


@crm_endpoint(scope="ZohoCRM.users.READ")
def get_user(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, user_id: str) -> Response:
    found = org.user(user_id)
    if found is None:
        return no_content()
    return json_response({"users": [found]})


def _fields_module(org: ZohoOrg, request: Request) -> str | Response:
    name = request.args.get("module")
    if not name:
        return param_error("REQUIRED_PARAM_MISSING", "required param is missing", param_name="module")
    store = org.module_named(name)
    if store is None:
        return zoho_error("INVALID_MODULE", "the module name given seems to be invalid", details={"api_name": "module"})
    return store.module


@crm_endpoint(scope="ZohoCRM.settings.fields.READ")
def get_fields(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    module = _fields_module(org, request)
    if isinstance(module, Response):
        return module
    kind = request.args.get("type")
    if kind not in (None, "all", "unused"):
        return param_error("INVALID_DATA", "invalid data", param_name="type")
    fields = [meta for meta in org.fields[module] if kind != "unused" or meta["type"] == "unused"]
    if not fields:
        return no_content()
    return json_response({"fields": fields})


@crm_endpoint(scope="ZohoCRM.settings.fields.READ")
def get_field(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, field_id: str) -> Response:
    module = _fields_module(org, request)
    if isinstance(module, Response):
        return module
    found = [meta for meta in org.fields[module] if meta["id"] == field_id]
    if not found:
        return no_content()
    return json_response({"fields": found})


def module_json(org: ZohoOrg, name: str) -> dict[str, Any]:
    singular, plural = schema.MODULE_LABELS[name]
    return {
        "api_name": name,
        "module_name": name,
        "id": schema.module_id(org.prefix, name),
        "singular_label": singular,
        "plural_label": plural,
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "generated_type": "default",
        "status": "visible",
        "sequence_number": schema.MODULES.index(name) + 1,
    }


@crm_endpoint(scope="ZohoCRM.settings.modules.READ")
def get_modules(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    return json_response({"modules": [module_json(org, name) for name in org.modules]})


@crm_endpoint(scope="ZohoCRM.org.READ")
def get_org(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    admin = org.admin
    details = {
        "country": "US",
        "photo_id": None,
        "city": "San Francisco",
        "description": None,
        "type": "production",
        "created_time": "2023-01-09T09:00:00-05:00",
        "mc_status": False,
        "gapps_enabled": False,
        "translation_enabled": False,
        "street": "100 Market St",
        "domain_name": f"org{org.org_id}",
        "alias": None,
        "currency": "US Dollar - USD",
        "id": org.org_id,
        "employee_count": "25",
        "state": "CA",
        "fax": None,
        "zip": "94105",
        "website": None,
        "currency_symbol": "$",
        "mobile": None,
        "currency_locale": "en_US",
        "primary_zuid": admin["zuid"],
        "zia_portal_id": None,
        "time_zone": org.time_zone,
        "zgid": org.org_id,
        "country_code": "US",
        "deletable_org_account": False,
        "license_details": {
            "paid_expiry": "2027-01-09T09:00:00-05:00",
            "users_license_purchased": len(org.users),
            "trial_type": None,
            "trial_expiry": None,
            "paid": True,
            "paid_type": "standard",
            "portal_users_license_purchased": 0,
            "trial_action": None,
        },
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
        "phone": "+1 415-555-0100",
        "company_name": org.name,
        "privacy_settings": False,
        "primary_email": admin["email"],
        "iso_code": "USD",
        "hipaa_compliance_enabled": False,
        "lite_users_enabled": False,
        "max_per_page": 200,
        "ezgid": org.org_id,
        "call_icon": "show",
        "oauth_presence": True,
        "zia_zgid": int(org.org_id),
        "checkin_preferences": {"restricted_event_types": None},
    }
    details.update(org.details)
    return json_response({"org": [details]})
