"""The WSGI application: the kit's router (sandbox/kit/app.py) with every vendor the sandbox emulates, each
answering faults and unknown paths in its own shapes. Vendor paths do not overlap, so one host serves all."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sandbox.http import json_response, twilio_error, zoho_error
from sandbox.kit.app import EmulatorApp, Vendor
from sandbox.state import SandboxState


def _zoho_crm_fault(status: int) -> Response:
    if status == 429:
        return zoho_error("TOO_MANY_REQUESTS", "Too many requests. Please try again later.", status=429)
    if status == 401:
        return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
    return zoho_error("INTERNAL_ERROR", "Internal Server Error", status=status)


def _zoho_crm_not_found(path: str, status: int = 404) -> Response:
    return zoho_error(
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        status=404 if status == 404 else 400,
    )


def _twilio_fault(status: int) -> Response:
    if status == 429:
        return twilio_error(20429, "Too Many Requests", status=429)
    return twilio_error(20500, "Internal Server Error", status=status)


def _twilio_not_found(path: str, status: int = 404) -> Response:
    return twilio_error(20404, f"The requested resource {path} was not found", status=404)


def _zoho_voice_fault(status: int) -> Response:
    return json_response({"status": "ERROR", "code": str(status), "message": "failed"}, status)


def _salesforce_fault(status: int) -> Response:
    from sandbox.salesforce.calls import sf_error

    if status == 401:
        return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if status == 403:
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if status == 503:
        return sf_error(503, "SERVER_UNAVAILABLE", "Server is unavailable. Please try again later.")
    return sf_error(
        status,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred. Please include this ErrorId if you "
        "contact support: 1234567890-12345 (-1234567890)",
    )


def _salesforce_not_found(path: str, status: int = 404) -> Response:
    from sandbox.salesforce.calls import sf_error

    if status == 405:
        return sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method not allowed for this resource")
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def _hubspot_fault(status: int) -> Response:
    from sandbox.hubspot.calls import hs_error, invalid_authentication, rate_limited

    if status == 429:
        return rate_limited("TEN_SECONDLY_ROLLING")
    if status == 401:
        return invalid_authentication()
    if status in (502, 504):
        return hs_error(status, "INTERNAL_ERROR", "The request timed out or hit a processing limit. Please retry.")
    if status == 423:
        return hs_error(423, "LOCKED", "The record is locked by another request. Please retry.")
    return hs_error(status, "INTERNAL_ERROR", "internal error")


def _hubspot_not_found(path: str, status: int = 404) -> Response:
    from sandbox.hubspot.calls import hs_error

    if status == 405:
        return hs_error(405, "VALIDATION_ERROR", "HTTP method not allowed for this resource")
    return hs_error(404, "OBJECT_NOT_FOUND", f"No route matches {path}")


def _dynamics_fault(status: int) -> Response:
    from sandbox.dynamics.calls import CONCURRENCY_EXCEEDED, dv_error

    if status == 429:
        code, message = CONCURRENCY_EXCEEDED
        return dv_error(429, code, message.format(limit=52), headers={"Retry-After": "1"})
    if status == 401:
        return dv_error(401, "0x80072560", "The user is not a member of the organization.")
    return dv_error(status, "0x80040216", "An unexpected error occurred.")


def _dynamics_not_found(path: str, status: int = 404) -> Response:
    from sandbox.dynamics.calls import dv_error

    if status == 405:
        return dv_error(405, "0x80060888", "The requested resource does not support http method.")
    return dv_error(404, "0x80060888", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")


def vendors() -> list[Vendor]:
    from sandbox import zoho_accounts, zoho_voice, zoho_voice_control
    from sandbox.dynamics import api as dynamics_api
    from sandbox.hubspot import api as hubspot_api
    from sandbox.salesforce import api as salesforce_api
    from sandbox.twilio import api as twilio_api
    from sandbox.zoho_crm import api as crm_api
    from sandbox.zoho_crm import bulk, coql, notifications, workflows
    from sandbox.zoho_crm import control as crm_control

    crm_routes = [*crm_api.ROUTES, *coql.ROUTES, *bulk.ROUTES, *notifications.ROUTES, *workflows.ROUTES]
    return [
        Vendor("zoho_accounts", ("/oauth/",), routes=zoho_accounts.ROUTES),
        Vendor(
            "zoho_crm",
            ("/crm/",),
            routes=[*crm_routes, *crm_control.ROUTES],
            fault_response=_zoho_crm_fault,
            not_found=_zoho_crm_not_found,
        ),
        Vendor(
            "zoho_voice",
            ("/rest/json/",),
            routes=[*zoho_voice.ROUTES, *zoho_voice_control.ROUTES],
            fault_response=_zoho_voice_fault,
        ),
        Vendor(
            "salesforce",
            ("/services/", "/id/"),
            routes=salesforce_api.routes(),
            fault_response=_salesforce_fault,
            not_found=_salesforce_not_found,
        ),
        Vendor(
            "hubspot",
            ("/hubspot/",),
            routes=hubspot_api.routes(),
            fault_response=_hubspot_fault,
            not_found=_hubspot_not_found,
        ),
        Vendor(
            "dynamics",
            ("/dynamics/", "/entra/"),
            routes=dynamics_api.routes(),
            fault_response=_dynamics_fault,
            not_found=_dynamics_not_found,
        ),
        Vendor(
            "twilio",
            ("/2010-04-01/",),
            routes=twilio_api.ROUTES,
            fault_response=_twilio_fault,
            not_found=_twilio_not_found,
        ),
    ]


class SandboxApp(EmulatorApp):
    def __init__(self, state: SandboxState | None = None) -> None:
        from sandbox import people, ui

        # The people page and its small read endpoints belong to no vendor.
        super().__init__(state or SandboxState(), vendors(), routes=[*people.ROUTES, *ui.ROUTES])


def create_app(**state_options: Any) -> SandboxApp:
    return SandboxApp(SandboxState(**state_options))
