"""The signed `state` of every CRM OAuth flow (connect and sign-in), so one callback can tell them apart.

    state = state_issue(session=request.session, kind="<kind>", flow=Flow.CONNECT, finish="<kind>:connect-done",
                        account=account.pk)
    ...                                   # the CRM sends the person back to /crm/oauth/callback?state=...&code=...
    issued = state_read(state=request.GET["state"])        # signature and age: which CRM, which flow
    issued = state_claim(state=request.GET["state"], session=request.session)   # and this browser's, once

A state is signed with the project's key, lives STATE_MAX_AGE and carries a nonce kept in the browser that started
the flow (`session`: the Django session, or any mapping a view keeps, e.g. in a signed cookie for an anonymous
sign-in), so a callback carried into another browser (login CSRF) or replayed is refused. Refusals are
CrmAuthError with `code` "bad_state".
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core import signing

from crm.errors import CrmAuthError

STATE_SALT = "crm.oauth.state"
STATE_MAX_AGE = 15 * 60
SESSION_NONCES = "crm_oauth_nonces"
OPEN_FLOWS = 5  # a few flows may be open in tabs at once


class Flow(StrEnum):
    CONNECT = "connect"  # a manager links an organization to a CRM org (credentials are stored)
    SIGN_IN = "sign_in"  # the CRM says who a person is; nothing of theirs is stored


@dataclass(frozen=True)
class OAuthState:
    kind: str  # the CRM kind whose provider finishes the flow
    flow: Flow
    finish: str = ""  # the URL name of the view that completes a connect (the vendor's own pages)
    data: dict[str, Any] = field(default_factory=dict)  # what the flow's start wants back (an account id, a mode)


def state_issue(*, session: MutableMapping[str, Any], kind: str, flow: Flow, finish: str = "", **data: Any) -> str:
    """A state for a consent URL; the nonce binding it to this browser goes into `session`."""
    nonce = secrets.token_urlsafe(16)
    session[SESSION_NONCES] = [*session.get(SESSION_NONCES, [])[1 - OPEN_FLOWS :], nonce]
    payload = {"kind": kind, "flow": str(flow), "finish": finish, "nonce": nonce, "data": data}
    return signing.dumps(payload, salt=STATE_SALT)


def state_read(*, state: str) -> OAuthState:
    """What a callback's state says, if we signed it within STATE_MAX_AGE (not yet whether this browser owns it)."""
    try:
        payload = signing.loads(state or "", salt=STATE_SALT, max_age=STATE_MAX_AGE)
        return OAuthState(
            kind=str(payload["kind"]),
            flow=Flow(payload["flow"]),
            finish=str(payload.get("finish") or ""),
            data=dict(payload.get("data") or {}),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:  # SignatureExpired is a BadSignature
        raise CrmAuthError("This sign-in link is invalid or has expired; start again.", code="bad_state") from exc


def state_claim(*, state: str, session: MutableMapping[str, Any]) -> OAuthState:
    """The state, if it is genuine, fresh and was started in this browser; its nonce is used up (single use)."""
    issued = state_read(state=state)
    nonce = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE)["nonce"]
    nonces = list(session.get(SESSION_NONCES, []))
    if nonce not in nonces:
        raise CrmAuthError("This sign-in was started in another browser session; start again.", code="bad_state")
    nonces.remove(nonce)
    session[SESSION_NONCES] = nonces
    return issued
