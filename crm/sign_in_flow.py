"""The CRM-neutral steps of "Sign in with <CRM>", shared by the providers' sign_in.py: starting the flow (its
guards and signed state, marked a sign-in and bound to this browser) and checking the callback before the
provider exchanges the code with its vendor and says who the person is.

Refusals are CrmAuthError whose `code` is a stable reason for the pages ("not_configured", "bad_request",
"bad_state", "crm_refused"); a CRM that does not answer is CrmUnavailable ("crm_unavailable").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm.errors import CrmAuthError, CrmUnavailable
from crm.oauth_state import Flow, state_claim, state_issue

MODES = ("page", "widget")


def refused(message: str, reason: str, *, kind: str) -> CrmAuthError:
    return CrmAuthError(message, provider=kind, code=reason)


def unavailable(message: str, *, kind: str) -> CrmUnavailable:
    return CrmUnavailable(message, provider=kind, code="crm_unavailable")


def sign_in_state(*, session: Any, kind: str, crm_name: str, configured: bool, mode: str, redirect_to: str) -> str:
    """The state of a sign-in's consent URL, once the server can sign people in (`configured`: the CRM app's
    credentials are set) and the mode is known."""
    if not configured:
        raise refused(f"Sign in with {crm_name} is not configured on this server.", "not_configured", kind=kind)
    if mode not in MODES:
        raise refused(f"Unknown sign-in mode {mode!r}.", "bad_request", kind=kind)
    return state_issue(session=session, kind=kind, flow=Flow.SIGN_IN, mode=mode, redirect=redirect_to)


@dataclass(frozen=True)
class SignInCallback:
    """A sign-in's callback, checked: the code to exchange, where the consent was told to send the person back
    (the exchange must name it again), the mode and the state."""

    code: str
    redirect_to: str
    mode: str
    state: str


def sign_in_callback(
    *, params: Mapping[str, str], session: Any, kind: str, crm_name: str, default_redirect: str
) -> SignInCallback:
    """The callback's state must be a sign-in this browser started (single use), and the CRM must not have sent
    an error (the person refused, or the CRM did)."""
    state = str(params.get("state") or "")
    issued = state_claim(state=state, session=session)
    if issued.kind != kind or issued.flow != Flow.SIGN_IN:
        raise refused("This sign-in link is invalid or has expired; start again.", "bad_state", kind=kind)
    mode = issued.data.get("mode") if issued.data.get("mode") in MODES else "page"
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise refused(f"{crm_name} sign-in did not complete ({detail}).", "crm_refused", kind=kind)
    return SignInCallback(
        code=str(params.get("code") or ""),
        redirect_to=str(issued.data.get("redirect") or default_redirect),
        mode=str(mode),
        state=state,
    )
