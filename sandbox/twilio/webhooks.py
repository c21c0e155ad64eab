"""Twilio's requests to the product: signed form posts (or GETs), connection overrides, retries, the fallback URL,
and reading the TwiML the product answers with.

Connection overrides (docs/vendors/twilio.md, Timeouts and retries) come from the URL fragment, which is never sent nor
signed:
`ct` connect timeout ms (default 5000), `rt` read timeout ms (15000), `tt` total ms including retries (15000),
`rc` retry count 0..5 (default 1), `rp` which failures retry: comma-separated `4xx`, `5xx`, `rt`, `ct`, `all`
(default `ct`; UNCONFIRMED). When every attempt failed and the number has a fallback URL, Twilio requests it with
the same parameters plus `ErrorCode` (11200 HTTP error, 11205 connection failure) and `ErrorUrl` (UNCONFIRMED
names for messaging).
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sandbox.kit.delivery import Delivery
from sandbox.twilio.signature import SIGNATURE_HEADER, compute_signature, split_fragment

if TYPE_CHECKING:
    from sandbox.state import SandboxState

USER_AGENT = "TwilioProxy/1.1"
MAX_TWIML_BYTES = 64 * 1024


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value))) if value not in (None, "") else default
    except ValueError:
        return default


def failure_kind(delivery: Delivery) -> str | None:
    """None when the product answered 2xx/3xx; else `ct`, `rt`, `4xx` or `5xx`."""
    if delivery.error is not None:
        return "rt" if "ReadTimeout" in delivery.error else "ct"
    if delivery.status is not None and delivery.status >= 500:
        return "5xx"
    if delivery.status is not None and delivery.status >= 400:
        return "4xx"
    return None


def signed_request(
    url: str, method: str, params: dict[str, str], auth_token: str
) -> tuple[str, dict[str, str] | None, str]:
    """(URL to request, form body or None, signature) for a webhook with no fragment in `url`."""
    if method.upper() == "GET":
        full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}" if params else url
        return full, None, compute_signature(auth_token, full, None)
    return url, params, compute_signature(auth_token, url, params)


def deliver(
    sandbox: SandboxState,
    *,
    kind: str,
    url: str,
    method: str = "POST",
    params: dict[str, str],
    auth_token: str,
    fallback_url: str = "",
    fallback_method: str = "POST",
) -> list[Delivery]:
    """Deliver one webhook synchronously with Twilio's retries and fallback; every attempt is in the outbox."""
    attempts = _attempts(sandbox, kind=kind, url=url, method=method, params=params, auth_token=auth_token)
    kind_of_failure = failure_kind(attempts[-1])
    if kind_of_failure is not None and fallback_url:
        extra = {
            "ErrorCode": "11205" if kind_of_failure in ("ct", "rt") else "11200",
            "ErrorUrl": split_fragment(url)[0],
        }
        attempts += _attempts(
            sandbox,
            kind=f"{kind}.fallback",
            url=fallback_url,
            method=fallback_method,
            params={**params, **extra},
            auth_token=auth_token,
        )
    return attempts


def _attempts(
    sandbox: SandboxState, *, kind: str, url: str, method: str, params: dict[str, str], auth_token: str
) -> list[Delivery]:
    base, overrides = split_fragment(url)
    connect = _int(overrides.get("ct"), 5000, 100, 10000) / 1000
    read = _int(overrides.get("rt"), 15000, 100, 15000) / 1000
    total = _int(overrides.get("tt"), 15000, 100, 15000) / 1000
    retries = _int(overrides.get("rc"), 1, 0, 5)
    policy = {p.strip().lower() for p in (overrides.get("rp") or "ct").split(",") if p.strip()}
    target, body, signature = signed_request(base, method, params, auth_token)
    headers = {
        SIGNATURE_HEADER: signature,
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),  # the same on every retry of this request
        "User-Agent": USER_AGENT,
    }
    started = time.monotonic()
    deliveries: list[Delivery] = []
    for attempt in range(retries + 1):
        remaining = total - (time.monotonic() - started)
        if attempt and remaining <= 0.05:
            break
        timeout = (min(connect, max(remaining, 0.1)), min(read, max(remaining, 0.1)))
        delivery = sandbox.outbox.send(
            kind=kind, method=method.upper(), url=target, headers=headers, data=body, timeout=timeout
        )
        deliveries.append(delivery)
        failed = failure_kind(delivery)
        if failed is None or not ("all" in policy or failed in policy):
            break
    return deliveries


@dataclass
class TwimlMessage:
    body: str
    media: list[str] = field(default_factory=list)
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"


def parse_twiml(text: str) -> tuple[list[TwimlMessage], str | None]:
    """The <Message> verbs of a TwiML answer, and an error (Twilio's 12100 parse failure / 12300 content type)
    when it is not TwiML. An empty body sends nothing."""
    text = (text or "").strip()
    if not text:
        return [], None
    if len(text.encode("utf-8")) > MAX_TWIML_BYTES:
        return [], "12100 Document parse failure: too large"
    try:
        # The XML is the product's own answer in a test double; expat does not resolve external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        return [], f"12100 Document parse failure: {exc}"
    if root.tag != "Response":
        return [], "12100 Document parse failure: the root element is not <Response>"
    messages = []
    for verb in root:
        if verb.tag != "Message":
            continue  # <Redirect> and others are not emulated
        body_el = verb.find("Body")
        body = (body_el.text if body_el is not None else verb.text) or ""
        media = [(m.text or "").strip() for m in verb.findall("Media") if (m.text or "").strip()]
        messages.append(
            TwimlMessage(
                body=body.strip(),
                media=media,
                to=verb.get("to"),
                from_=verb.get("from"),
                action=verb.get("action"),
                method=(verb.get("method") or "POST").upper(),
            )
        )
    return messages, None


def as_dicts(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    return [d.as_dict() for d in deliveries]
