"""Zoho Voice over its REST API (docs/vendors/zoho-voice.md): send a text, and read the SMS logs the poll dedups.

Zoho Voice authenticates with Zoho Accounts OAuth; the token comes from the shared broker
(crm/providers/zoho/tokens.py), so every worker uses one access token per refresh token. A 401 means the token died
early (revoked, rotated): forget it, take a fresh one and try once more; a second 401 is our credentials, not a blip.

Zoho spells its envelope's status both "SUCCESS" and "success", so it is compared case-insensitively. The HTTP
status of an error is UNCONFIRMED; the body's `code` decides (ZVSMS-4xxx: this request is invalid).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from core import outbound
from core.http import request_never_reached
from core.outbound import OutboundRefused
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.data_centres import ZOHO_ACCOUNTS_HOSTS, ZOHO_VOICE_HOSTS
from crm.providers.zoho.tokens import (
    ZohoReauthRequired,
    ZohoTokenUnavailable,
    access_token_get,
    access_token_invalidate,
)
from messaging.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SendResult,
)
from studios.models import ProviderAccount

MAX_BODY_CHARS = 1000  # Zoho Voice's own limit (Twilio takes 1600)
LOGS_PAGE_SIZE = 100
# Zoho does not say in which zone it reads the logs' fromDate (UTC, as we send it, or the CRM org's zone?). Read in
# a zone behind UTC it means a later instant, and the logs between would never be asked for; so every request asks
# from this much earlier (the widest UTC offsets are -12 h and +14 h), and callers keep only the logs they want by
# their own time (submittedTime, epoch milliseconds: no zone to misread). Dedup by log id makes the extra logs free.
FROM_DATE_ZONE_SLACK = timedelta(hours=14)
DEFAULT_BASE_URL = "https://voice.zoho.com"
# Zoho Voice's statuses in our terms (Message.Status values).
STATUS_MAP = {
    "IN_QUEUE": "accepted",
    "SENT": "sent",
    "DELIVERED": "delivered",
    "UNDELIVERED": "undelivered",
    "FAILED": "failed",
    "RECEIVED": "received",
}
# 401 codes a fresh token cannot fix: retrying would only spend one of the ten refreshes Zoho allows.
NO_RETRY_AUTH_CODES = frozenset({"OAUTH_SCOPE_MISMATCH"})


def vendor_hosts_register() -> None:
    """The hosts a manager may give a Zoho Voice account (core.outbound); called when Django starts."""
    outbound.vendor_hosts_register(
        kind="zoho_voice", vendor="Zoho", fields={"accounts_url": ZOHO_ACCOUNTS_HOSTS, "api_base_url": ZOHO_VOICE_HOSTS}
    )


_session = None


def status_of(zoho_status: str | None) -> str:
    """Our status for a Zoho Voice one; an unknown status counts as merely accepted (never as delivered)."""
    return STATUS_MAP.get((zoho_status or "").strip().upper(), "accepted")


def _result_of(log: dict[str, Any]) -> SendResult:
    """A send answer or an SMS log as our SendResult (the log id is both ids)."""
    segments = log.get("multipartCount")
    return SendResult(
        provider_message_id=str(log["logid"]),
        status=status_of(log.get("status")),
        segments=int(segments) if isinstance(segments, int) and segments > 0 else None,
        provider_log_id=str(log["logid"]),
    )


def _http():
    global _session
    if _session is None:
        from core.http import make_session

        timeout = (zoho_settings.HTTP_CONNECT_TIMEOUT_SECONDS, zoho_settings.VOICE_TIMEOUT_SECONDS)
        # One connect retry is safe even for a send: a refused connection never reached Zoho.
        _session = make_session("zoho-voice", timeout=timeout, retries=1)
    return _session


class ZohoVoiceProvider:
    name = "zoho_voice"

    def __init__(self, *, account: ProviderAccount):
        self._account = account
        self._base_url = (account.api_base_url or DEFAULT_BASE_URL).rstrip("/")

    def send(self, *, from_number: str, to_number: str, body: str, status_callback: str | None) -> SendResult:
        if len(body) > MAX_BODY_CHARS:
            # Refused here rather than by Zoho's vague "Bad Request": the sender learns the actual limit.
            raise ProviderRejected(
                f"Zoho Voice takes at most {MAX_BODY_CHARS} characters in a text; this one has {len(body)}.",
                code="too_long",
            )
        payload: dict[str, Any] = {"senderId": from_number, "customerNumber": to_number, "message": body}
        if status_callback:
            payload["statusCallback"] = status_callback
        answer = self._call("POST", "/rest/json/v1/sms/send", json=payload)
        sent = answer.get("send")
        if isinstance(sent, list):  # several recipients answer a list; we always send to one
            sent = sent[0] if sent else None
        if not isinstance(sent, dict) or not sent.get("logid"):
            raise ProviderUnavailable(f"Zoho Voice answered a send without a log id: {str(answer)[:200]}")
        return _result_of(sent)

    def find_sent(self, *, from_number: str, to_number: str, body: str, since: datetime) -> SendResult | None:
        """The outgoing log of this text to the lead since `since` (after a send whose answer was lost)."""
        for log in self.logs_page(number=from_number, start=0, from_date=since):
            if str(log.get("messageType") or "").upper() != "OUTGOING" or log.get("message") != body:
                continue
            submitted = log.get("submittedTime")
            if isinstance(submitted, int | float) and submitted < since.timestamp() * 1000:
                continue  # an earlier identical text, from the page's widened window: not this one
            if re.sub(r"[^\d+]", "", str(log.get("customerNumber") or "")) == to_number and log.get("logid"):
                return _result_of(log)
        return None

    def logs_page(
        self, *, number: str, start: int, size: int = LOGS_PAGE_SIZE, from_date: datetime | None = None
    ) -> list[dict[str, Any]]:
        """One page of a number's SMS logs, both directions, newest first (`start` is an index, not a page)."""
        params: dict[str, Any] = {"from": start, "size": size, "messageType": "All", "longCode": number}
        if from_date is not None:
            # The documented sample's form, in UTC; widened because Zoho may read it in another zone (see above).
            params["fromDate"] = (from_date - FROM_DATE_ZONE_SLACK).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        answer = self._call("GET", "/rest/json/v1/sms/logs", params=params)
        found = answer.get("smsLogQuery")
        if found is None:
            return []
        if not isinstance(found, list):
            raise ProviderUnavailable("Zoho Voice answered the logs without a smsLogQuery list")
        return [log for log in found if isinstance(log, dict)]

    # --- the call: token, one retry on 401, typed errors ------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = self._token()
        response = self._request(method, path, token, **kwargs)
        if response.status_code == 401 and _code_of(response) not in NO_RETRY_AUTH_CODES:
            access_token_invalidate(account=self._account, token=token)
            token = self._token()
            response = self._request(method, path, token, **kwargs)
        return _answer_of(response)

    def _token(self) -> str:
        try:
            return access_token_get(account=self._account)
        except ZohoReauthRequired as exc:
            raise ProviderAuthError(f"Zoho Voice: {exc}", code="reauth_required") from exc
        except ZohoTokenUnavailable as exc:
            raise ProviderUnavailable(f"Zoho Voice: no access token now ({exc})", code="token_unavailable") from exc

    def _request(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Zoho-oauthtoken {token}", "Accept": "application/json"}
        try:
            return _http().request(method, f"{self._base_url}{path}", headers=headers, **kwargs)
        except OutboundRefused as exc:
            # Nothing was sent; a person must fix the account's endpoint (fail over, never retry it as an outage).
            raise ProviderAuthError(f"Zoho Voice endpoint refused: {exc.message}", code="endpoint_refused") from exc
        except requests.RequestException as exc:
            if method == "POST" and not request_never_reached(exc):
                # The send may have been taken: never fail over on it (the lead could get it twice).
                raise ProviderOutcomeUnknown(
                    f"Zoho Voice did not answer: {exc.__class__.__name__}", code="outcome_unknown"
                ) from exc
            raise ProviderUnavailable(f"Zoho Voice did not answer: {exc.__class__.__name__}", code="timeout") from exc


def _json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _code_of(response: requests.Response) -> str:
    body = _json_of(response)
    return str(body.get("code") or "") if isinstance(body, dict) else ""


def _answer_of(response: requests.Response) -> dict[str, Any]:
    """The JSON answer of a successful call, or the ProviderError it amounts to."""
    status = response.status_code
    body = _json_of(response)
    envelope = body if isinstance(body, dict) else {}
    code = str(envelope.get("code") or "")
    text = f"Zoho Voice {code or status}: {envelope.get('message') or response.reason or 'no message'}"
    if status == 429:
        raise ProviderRateLimited(text, code=code or "429", status=status)
    if status >= 500:
        raise ProviderUnavailable(text, code=code or str(status), status=status)
    if status == 401:
        raise ProviderAuthError(text, code=code or "401", status=status)
    if not envelope:
        raise _unexpected(f"Zoho Voice answered HTTP {status} without a JSON object", status)
    if str(envelope.get("status") or "").lower() == "error" or status >= 400:
        if code.upper().startswith("ZVSMS-4"):
            raise ProviderRejected(text, code=code, status=status)
        if status == 403:
            raise ProviderAuthError(text, code=code or "403", status=status)
        raise _unexpected(text, status, code=code)
    return envelope


def _unexpected(text: str, status: int, *, code: str = "") -> ProviderError:
    # An answer we cannot read is treated like an outage: fail over and retry, never fail the text for good.
    return ProviderUnavailable(text, code=code or str(status), status=status)
