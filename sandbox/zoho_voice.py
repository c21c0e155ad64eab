"""Zoho Voice SMS (docs/vendors/zoho-voice.md): send and logs, with injectable inbound messages and status changes.

Zoho Voice sends no webhook for incoming texts (the product polls the logs) and does no opt-out handling of its
own: a lead who texted STOP can still be sent to, so the product must suppress it.

UNCONFIRMED choices (no source found): error HTTP statuses (400 validation, 401 auth), the auth error codes
(borrowed from Zoho CRM: INVALID_TOKEN, AUTHENTICATION_FAILURE, OAUTH_SCOPE_MISMATCH) in Voice's
{"status":"ERROR","code","message"} envelope; ZVSMS-4027 "Bad Request" (documented) for every invalid request;
ZVSMS-4038 (documented) for destinations outside `supported_countries`; `send` as a list when several numbers are
given; logs newest first; `sentTime` and the date filters in UTC (`from_date_zone` reads the filters in another
zone instead, as Zoho might read them in the CRM org's: POST /_sandbox/voice/settings); statuses past IN_QUEUE
("DELIVERED") and the INCOMING status ("RECEIVED"); the statusCallback body (the log entry as JSON).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import phonenumbers
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json
from sandbox.twilio.segments import count_segments

if TYPE_CHECKING:
    from sandbox.state import SandboxState

MAX_RECIPIENTS = 10
MAX_MESSAGE = 1000
SEND_SCOPES = ("ZohoVoice.sms.CREATE", "ZohoVoice.sms.ALL")
READ_SCOPES = ("ZohoVoice.sms.READ", "ZohoVoice.sms.GET", "ZohoVoice.sms.ALL")
STATUS_DESCRIPTIONS = {
    "IN_QUEUE": "Message is in queue",
    "SENT": "Message sent to the carrier",
    "DELIVERED": "Message delivered",
    "UNDELIVERED": "Message was not delivered due to one of the possible errors reported by SMSC",
    "FAILED": "Message failed",
    "RECEIVED": "Message received",
}
DATE_FORMATS = ("%Y%m%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y%m%d %H:%M:%S", "%Y-%m-%d", "%Y%m%d")


def digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def to_e164(number: str) -> str | None:
    """ "+14155550123", "14155550123", "+1 4155550123", "(415) 555-0123" (US assumed without country code)."""
    raw = (number or "").strip()
    if not raw:
        return None
    candidate = raw if raw.startswith("+") else ("+" + digits(raw) if len(digits(raw)) > 10 else digits(raw))
    try:
        parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def spaced(number: str) -> str:
    """Zoho's display form: "+1 4155550123" (a space after the country code)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return f"+{parsed.country_code} {phonenumbers.national_significant_number(parsed)}"


def country_of(number: str) -> str:
    try:
        return (phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or "").lower()
    except phonenumbers.NumberParseException:
        return ""


@dataclass
class VoiceNumber:
    number: str
    org_id: str


@dataclass
class SmsLog:
    logid: str
    message_id: str
    org_id: str
    sender: str  # our Voice number, E.164
    customer: str  # the other party, E.164
    message: str
    message_type: str  # INCOMING | OUTGOING
    submitted: datetime
    status: str
    seq: int
    user_id: str = ""
    user_name: str = ""
    email: str = ""
    status_callback: str | None = None
    status_description: str = ""
    archived: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "logid": self.logid,
            "messageId": self.message_id,
            "country": country_of(self.customer),
            "multipartCount": count_segments(self.message),
            "submittedTime": int(self.submitted.timestamp() * 1000),
            "sentTime": self.submitted.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            "isBlocked": False,
            "isMMS": False,
            "mmsMeta": [],
            "customerNumber": spaced(self.customer),
            "customerName": spaced(self.customer),
            "senderId": spaced(self.sender),
            "message": self.message,
            "messageType": self.message_type,
            "status": self.status,
            "statusDescription": self.status_description or STATUS_DESCRIPTIONS.get(self.status, ""),
            "userName": self.user_name,
            "email": self.email,
            "emailId": self.email,
            "zuid": int(self.user_id) if self.user_id.isdigit() else None,
            "zsoid": self.org_id,
        }

    def send_json(self) -> dict[str, Any]:
        """The `send` object of a successful send (the documented sample's fields)."""
        full = self.as_json()
        keys = (
            "multipartCount",
            "country",
            "submittedTime",
            "customerNumber",
            "message",
            "userName",
            "customerName",
            "senderId",
            "messageType",
            "sentTime",
            "logid",
            "email",
            "status",
        )
        sent = {key: full[key] for key in keys}
        sent["senderId"] = self.extra.get("sender_as_given", sent["senderId"])  # echoed as sent (the samples vary)
        return sent


class VoiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class VoiceState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.numbers: dict[str, VoiceNumber] = {}
        self.logs: dict[str, SmsLog] = {}
        self.supported_countries = {"us", "ca"}
        self.from_date_zone: ZoneInfo | None = None  # None: fromDate/toDate are UTC
        self._rng = random.Random(f"voice:{sandbox.seed}")
        self._seq = itertools.count(1)

    def seed_world(self, name: str) -> None:
        from sandbox import worlds

        for number in worlds.DEMO_VOICE_NUMBERS:
            self.numbers[number] = VoiceNumber(number, worlds.DEMO_ZOHO_ORG_ID)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _user(self, user_id: str) -> dict[str, str]:
        from sandbox import worlds

        for user in worlds.DEMO_USERS:
            if user["id"] == user_id:
                return user
        return {"first_name": "", "email": ""}

    def send(self, *, org_id: str, user_id: str, body: Any) -> list[SmsLog]:
        if not isinstance(body, dict):
            raise VoiceError("ZVSMS-4027", "Bad Request")
        sender_raw, customers_raw, text = body.get("senderId"), body.get("customerNumber"), body.get("message")
        if sender_raw in (None, "") or customers_raw in (None, "") or not isinstance(text, str) or not text:
            raise VoiceError("ZVSMS-4027", "Bad Request")
        if len(text) > MAX_MESSAGE:
            raise VoiceError("ZVSMS-4027", "Bad Request")
        sender = to_e164(str(sender_raw))
        with self.sandbox.lock:
            if sender is None or sender not in self.numbers or self.numbers[sender].org_id != org_id:
                raise VoiceError("ZVSMS-4027", "Bad Request")
            raw_numbers = [n.strip() for n in str(customers_raw).split(",") if n.strip()]
            if not raw_numbers or len(raw_numbers) > MAX_RECIPIENTS:
                raise VoiceError("ZVSMS-4027", "Bad Request")
            customers = [to_e164(n) for n in raw_numbers]
            if any(c is None for c in customers):
                raise VoiceError("ZVSMS-4027", "Bad Request")
            if any(country_of(c) not in self.supported_countries for c in customers):  # type: ignore[arg-type]
                raise VoiceError("ZVSMS-4038", "Destination country not supported. Kindly contact zohovoice support")
            user = self._user(user_id)
            callback = body.get("statusCallback") if isinstance(body.get("statusCallback"), str) else None
            logs = []
            for customer in customers:
                log = self._add(
                    org_id=org_id,
                    sender=sender,
                    customer=customer,  # type: ignore[arg-type]
                    message=text,
                    message_type="OUTGOING",
                    status="IN_QUEUE",
                    user_id=user_id,
                    user_name=user.get("first_name", ""),
                    email=user.get("email", ""),
                    status_callback=callback,
                    extra={"sender_as_given": str(sender_raw)},
                )
                logs.append(log)
        for log in logs:
            self._schedule_auto_progress(log.logid)
        return logs

    def _add(self, **fields: Any) -> SmsLog:
        log = SmsLog(
            logid=self._uuid(),
            message_id=self._uuid(),
            submitted=self.sandbox.clock.now(),
            seq=next(self._seq),
            **fields,
        )
        self.logs[log.logid] = log
        return log

    def receive(self, *, from_: str, to: str, message: str) -> dict[str, Any]:
        """An inbound text from a phone to one of our Voice numbers: it only appears in the logs."""
        with self.sandbox.lock:
            number = self.numbers[to]
            log = self._add(
                org_id=number.org_id,
                sender=to,
                customer=from_,
                message=message,
                message_type="INCOMING",
                status="RECEIVED",
            )
            return log.as_json()

    def set_status(self, logid: str, status: str, description: str | None = None) -> tuple[SmsLog, str | None]:
        with self.sandbox.lock:
            log = self.logs[logid]
            log.status = status
            log.status_description = description or ""
            return log, log.status_callback

    def notify(self, log: SmsLog, callback: str | None, *, background: bool = False) -> dict[str, Any] | None:
        """POST the log entry as JSON to the message's statusCallback (shape UNCONFIRMED): now, answering the
        delivery, or on the background sender."""
        if not callback:
            return None
        delivery = {"kind": "zoho_voice.status", "method": "POST", "url": callback, "json": log.as_json()}
        if background:
            self.sandbox.sender.submit(**delivery)
            return None
        return self.sandbox.outbox.send(**delivery).as_dict()

    def _schedule_auto_progress(self, logid: str) -> None:
        if not self.sandbox.config.auto_progress_messages:
            return
        delay = max(0.0, float(self.sandbox.config.auto_progress_delay_seconds))

        def progress() -> None:
            threading.Event().wait(delay)
            with self.sandbox.lock:
                if self.sandbox.voice is not self or logid not in self.logs or self.logs[logid].status != "IN_QUEUE":
                    return
                log, callback = self.set_status(logid, "DELIVERED")
            self.notify(log, callback, background=True)

        threading.Thread(target=progress, name=f"voice-{logid}", daemon=True).start()

    def query(self, org_id: str, args: Any) -> list[dict[str, Any]]:
        try:
            start = max(0, int(args.get("from") or 0))
            size = max(0, int(args.get("size") or 100))
        except ValueError as exc:
            raise VoiceError("ZVSMS-4027", "Bad Request") from exc
        bounds = {}
        for key in ("fromDate", "toDate"):
            if args.get(key):
                bounds[key] = _parse_date(args[key], self.from_date_zone)
        message_type = (args.get("messageType") or "").strip().upper()
        if message_type not in ("", "ALL", "INCOMING", "OUTGOING"):
            raise VoiceError("ZVSMS-4027", "Bad Request")
        with self.sandbox.lock:
            found = [log for log in self.logs.values() if log.org_id == org_id]
        if message_type in ("INCOMING", "OUTGOING"):
            found = [log for log in found if log.message_type == message_type]
        if "fromDate" in bounds:
            found = [log for log in found if log.submitted >= bounds["fromDate"]]
        if "toDate" in bounds:
            found = [log for log in found if log.submitted <= bounds["toDate"]]
        for key, attribute in (("customerNumber", "customer"), ("longCode", "sender")):
            wanted = digits(args.get(key) or "")
            if wanted:
                found = [log for log in found if digits(getattr(log, attribute)).endswith(wanted)]
        if args.get("country"):
            found = [log for log in found if country_of(log.customer) == args["country"].strip().lower()]
        if (args.get("fetchMMS") or "").lower() == "true":
            found = []  # the sandbox sends and receives SMS only
        if (args.get("optArchived") or "").lower() == "true":
            found = [log for log in found if log.archived]
        found.sort(key=lambda log: log.seq, reverse=True)
        return [log.as_json() for log in found[start : start + size]]

    def phone_messages(self, phone: str) -> list[dict[str, Any]]:
        with self.sandbox.lock:
            entries = []
            for log in self.logs.values():
                if log.customer != phone or (
                    log.message_type == "OUTGOING" and log.status in ("UNDELIVERED", "FAILED")
                ):
                    continue
                outgoing = log.message_type == "OUTGOING"
                entries.append(
                    {
                        "provider": "zoho_voice",
                        "sid": log.logid,
                        "from": log.sender if outgoing else log.customer,
                        "to": log.customer if outgoing else log.sender,
                        "body": log.message,
                        "media": [],
                        "status": log.status,
                        "direction": "to_phone" if outgoing else "from_phone",
                        "date_created": log.submitted.replace(microsecond=0).isoformat(),
                        "seq": log.seq,
                    }
                )
            return entries


def _parse_date(value: str, zone: ZoneInfo | None = None) -> datetime:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=zone or UTC).astimezone(UTC)
        except ValueError:
            continue
    raise VoiceError("ZVSMS-4027", "Bad Request")


# --- HTTP ----------------------------------------------------------------------------------------------------------


def _error(code: str, message: str, status: int) -> Response:
    return json_response({"status": "ERROR", "code": code, "message": message}, status)


def _authorize(sandbox: SandboxState, request: Request, scopes: tuple[str, ...]) -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme != "Zoho-oauthtoken" or not token.strip():
        return _error("AUTHENTICATION_FAILURE", "Authentication failed", 401)
    resolved = sandbox.accounts.resolve(token.strip())
    if resolved == "expired":
        return _error("INVALID_TOKEN", "invalid oauth token", 401)
    if isinstance(resolved, str):
        return _error("AUTHENTICATION_FAILURE", "Authentication failed", 401)
    if not any(scope in resolved.scopes for scope in scopes):
        return _error("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL", 401)
    return resolved


def send(sandbox: SandboxState, request: Request) -> Response:
    token = _authorize(sandbox, request, SEND_SCOPES)
    if isinstance(token, Response):
        return token
    body = request_json(request)
    if body is None and request.form:
        body = request.form.to_dict()
    try:
        logs = sandbox.voice.send(org_id=token.org_id, user_id=token.user_id, body=body)
    except VoiceError as exc:
        return _error(exc.code, exc.message, exc.status)
    sent = [log.send_json() for log in logs]
    return json_response({"code": "ZVSMS-2000", "send": sent[0] if len(sent) == 1 else sent, "status": "SUCCESS"})


def logs(sandbox: SandboxState, request: Request) -> Response:
    token = _authorize(sandbox, request, READ_SCOPES)
    if isinstance(token, Response):
        return token
    try:
        found = sandbox.voice.query(token.org_id, request.args)
    except VoiceError as exc:
        return _error(exc.code, exc.message, exc.status)
    return json_response({"smsLogQuery": found})


ROUTES = [
    ("/rest/json/v1/sms/send", ["POST"], send),
    ("/rest/json/v1/sms/logs", ["GET"], logs),
]
