"""Twilio's resources (Account, IncomingNumber, Message) with their JSON, status and webhook parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from sandbox.twilio.e164 import geo

API_VERSION = "2010-04-01"
STATUSES = (
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "accepted",
    "scheduled",
    "read",
    "partially_delivered",
    "canceled",
)
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "read", "canceled", "received"})
AUTO_PROGRESS = ("sending", "sent", "delivered")
# Error texts of the asynchronous failures (docs/vendors/twilio.md, Send); Twilio says not to rely on them.
ERROR_MESSAGES = {
    21610: "Attempt to send to unsubscribed recipient",
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}
DEFAULT_ERROR = {"undelivered": 30003, "failed": 30008}
PRICE_PER_SEGMENT = "0.00790"  # UNCONFIRMED: a plausible US price, filled in once a message is sent


def rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None


class TwilioApiError(Exception):
    """A refusal in Twilio's words: {code, message, more_info, status}."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Account:
    sid: str
    auth_token: str
    friendly_name: str
    date_created: datetime
    status: str = "active"

    def as_json(self) -> dict[str, Any]:
        base = f"/{API_VERSION}/Accounts/{self.sid}"
        return {
            "auth_token": self.auth_token,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_created),
            "friendly_name": self.friendly_name,
            "owner_account_sid": self.sid,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
                "messages": f"{base}/Messages.json",
            },
            "type": "Full",
            "uri": f"{base}.json",
        }


@dataclass
class IncomingNumber:
    sid: str
    account_sid: str
    phone_number: str
    date_created: datetime
    date_updated: datetime
    friendly_name: str = ""
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"
    status_callback: str = ""
    status_callback_method: str = "POST"

    def as_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated),
            "emergency_status": "Inactive",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "friendly_name": self.friendly_name,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": self.phone_number,
            "sid": self.sid,
            "sms_application_sid": None,
            "sms_fallback_method": self.sms_fallback_method,
            "sms_fallback_url": self.sms_fallback_url,
            "sms_method": self.sms_method,
            "sms_url": self.sms_url,
            "status_callback": self.status_callback,
            "status_callback_method": self.status_callback_method,
            "trunk_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{self.sid}.json",
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_url": None,
            "voice_receive_mode": "voice",
            "status": "in-use",
            "bundle_sid": None,
            "type": "local",
        }


@dataclass
class Message:
    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    direction: str
    status: str
    date_created: datetime
    date_updated: datetime
    seq: int
    date_sent: datetime | None = None
    num_segments: int = 1
    media: list[dict[str, str]] = field(default_factory=list)  # {"url", "content_type"}
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    price: str | None = None
    price_unit: str | None = None

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def as_json(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media)),
            "num_segments": str(self.num_segments),
            "price": self.price,
            "price_unit": self.price_unit,
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}/Media.json",
            },
            "to": self.to,
            "uri": self.uri,
        }

    def apply_status(self, status: str, now: datetime, error_code: int | None = None) -> None:
        self.status = status
        self.date_updated = now
        if status in ("sending", "sent", "delivered", "undelivered") and self.date_sent is None:
            self.date_sent = now
        if status in ("sent", "delivered", "undelivered") and self.price is None:
            self.price = f"-{float(PRICE_PER_SEGMENT) * self.num_segments:.5f}"
            self.price_unit = "USD"
        if status in ("failed", "undelivered"):
            self.error_code = error_code or DEFAULT_ERROR[status]
            self.error_message = ERROR_MESSAGES.get(self.error_code, "Unknown error")

    def callback_params(self, status: str, error_code: int | None, now: datetime) -> dict[str, str]:
        """What Twilio posts to the StatusCallback URL for one status (docs/vendors/twilio.md, Status callbacks)."""
        params = {
            "SmsSid": self.sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": self.to,
            "MessageSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "ApiVersion": API_VERSION,
        }
        if status in ("failed", "undelivered"):
            params["ErrorCode"] = str(error_code or self.error_code or DEFAULT_ERROR[status])
        if status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = now.strftime("%y%m%d%H%M")
        return params

    def phone_entry(self, phone: str) -> dict[str, Any] | None:
        """This message as a line of `phone`'s conversation (`seq` orders it), or None when it is not one: not
        sent by the phone, or sent to it but never delivered (failed, undelivered or canceled)."""
        if self.direction == "inbound" and self.from_ == phone:
            direction = "from_phone"
        elif (
            self.direction != "inbound"
            and self.to == phone
            and self.status not in ("failed", "undelivered", "canceled")
        ):
            direction = "to_phone"
        else:
            return None
        return {
            "provider": "twilio",
            "sid": self.sid,
            "from": self.from_,
            "to": self.to,
            "body": self.body,
            "media": [item["url"] for item in self.media],
            "status": self.status,
            "direction": direction,
            "date_created": self.date_created.isoformat(),
            "seq": self.seq,
        }

    def inbound_params(self, keyword: str | None, extra: dict[str, str]) -> dict[str, str]:
        """The full parameter set of an inbound webhook (docs/vendors/twilio.md, Inbound webhook), plus any extra ones
        Twilio may add."""
        to_geo, from_geo = geo(self.to), geo(self.from_)
        params = {
            "ToCountry": to_geo["Country"],
            "ToState": to_geo["State"],
            "SmsMessageSid": self.sid,
            "NumMedia": str(len(self.media)),
            "ToCity": to_geo["City"],
            "FromZip": from_geo["Zip"],
            "SmsSid": self.sid,
            "FromState": from_geo["State"],
            "SmsStatus": "received",
            "FromCity": from_geo["City"],
            "Body": self.body,
            "FromCountry": from_geo["Country"],
            "To": self.to,
            "ToZip": to_geo["Zip"],
            "NumSegments": str(self.num_segments),
            "MessageSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "ApiVersion": API_VERSION,
        }
        if keyword is not None:
            params["OptOutType"] = keyword
        for index, item in enumerate(self.media):
            params[f"MediaContentType{index}"] = item["content_type"]
            params[f"MediaUrl{index}"] = item["url"]
        params.update({str(k): str(v) for k, v in (extra or {}).items()})
        return params
