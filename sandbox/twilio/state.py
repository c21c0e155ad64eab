"""TwilioState: accounts, their numbers and messages, opt-out blocks, and what phones sent and received.

Every mutation happens under `sandbox.lock`; nothing is delivered while holding it (the product's webhook handler
may call the sandbox back, e.g. to send a reply through the REST API). The resources themselves (Account,
IncomingNumber, Message) and their JSON live in models.py; E.164 parsing in e164.py.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers

from sandbox.twilio import optout
from sandbox.twilio.e164 import geo, parse_e164
from sandbox.twilio.models import (
    API_VERSION,
    AUTO_PROGRESS,
    DEFAULT_ERROR,
    ERROR_MESSAGES,
    FINAL_STATUSES,
    PRICE_PER_SEGMENT,
    STATUSES,
    Account,
    IncomingNumber,
    Message,
    TwilioApiError,
    rfc2822,
)
from sandbox.twilio.segments import count_segments, length_units

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# Names importable from here before models.py and e164.py were split out.
__all__ = [
    "API_VERSION",
    "AUTO_PROGRESS",
    "DEFAULT_ERROR",
    "DEMO_LANDLINES",
    "ERROR_MESSAGES",
    "FINAL_STATUSES",
    "MAX_BODY",
    "MAX_MEDIA",
    "PRICE_PER_SEGMENT",
    "STATUSES",
    "Account",
    "IncomingNumber",
    "Message",
    "TwilioApiError",
    "TwilioState",
    "geo",
    "parse_e164",
    "rfc2822",
]

MAX_BODY = 1600
MAX_MEDIA = 10
# Numbers that answer 21614 ("not a mobile number"); the control API can change the list.
DEMO_LANDLINES = ("+14155550199",)


class TwilioState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.accounts: dict[str, Account] = {}
        self.numbers: dict[str, IncomingNumber] = {}
        self.messages: dict[str, Message] = {}
        self.blocks: set[tuple[str, str]] = set()  # (our sender number, recipient) after STOP
        self.landlines: set[str] = set(DEMO_LANDLINES)
        self.system_replies: list[dict[str, Any]] = []  # Twilio's own STOP/START/HELP answers to phones
        self._rng = random.Random(f"twilio:{sandbox.seed}")
        self._seq = itertools.count(1)

    # --- set-up --------------------------------------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self.sandbox.lock

    def new_sid(self, prefix: str) -> str:
        return f"{prefix}{self._rng.getrandbits(128):032x}"

    def now(self) -> datetime:
        return self.sandbox.clock.now().replace(microsecond=0)

    def seed_world(self, name: str) -> None:
        from sandbox import worlds

        self.add_account(worlds.DEMO_TWILIO_ACCOUNT_SID, worlds.DEMO_TWILIO_AUTH_TOKEN, "Demo Fitness Co.")
        sms_url = self.sandbox.config.product_base_url.rstrip("/") + worlds.TWILIO_SMS_PATH
        for number in (
            *worlds.DEMO_TWILIO_NUMBERS,
            *worlds.DEMO_SF_TWILIO_NUMBERS,
            *worlds.DEMO_HS_TWILIO_NUMBERS,
            *worlds.DEMO_DV_TWILIO_NUMBERS,
        ):
            self.set_number(number, account_sid=worlds.DEMO_TWILIO_ACCOUNT_SID, sms_url=sms_url)

    def add_account(self, sid: str | None = None, auth_token: str | None = None, friendly_name: str = "") -> Account:
        with self.lock:
            sid = sid or self.new_sid("AC")
            account = Account(
                sid=sid,
                auth_token=auth_token or f"{self._rng.getrandbits(128):032x}",
                friendly_name=friendly_name or f"Sandbox account {sid[-6:]}",
                date_created=self.now(),
            )
            self.accounts[sid] = account
            return account

    def set_number(self, phone_number: str, *, account_sid: str | None = None, **fields: Any) -> IncomingNumber:
        """Register a number (to an account) or change its webhooks: sms_url, sms_method, sms_fallback_url,
        sms_fallback_method, status_callback, status_callback_method, friendly_name."""
        allowed = {
            "sms_url",
            "sms_method",
            "sms_fallback_url",
            "sms_fallback_method",
            "status_callback",
            "status_callback_method",
            "friendly_name",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown number fields: {sorted(unknown)}")
        if parse_e164(phone_number) is None:
            raise ValueError(f"{phone_number!r} is not a valid E.164 number")
        with self.lock:
            number = self.numbers.get(phone_number)
            if number is None:
                account_sid = account_sid or next(iter(self.accounts), None)
                if account_sid not in self.accounts:
                    raise ValueError(f"unknown Twilio account {account_sid!r}")
                parsed = phonenumbers.parse(phone_number, None)
                number = IncomingNumber(
                    sid="PN" + hashlib.md5(phone_number.encode(), usedforsecurity=False).hexdigest(),
                    account_sid=account_sid,
                    phone_number=phone_number,
                    date_created=self.now(),
                    date_updated=self.now(),
                    friendly_name=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
                )
                self.numbers[phone_number] = number
            elif account_sid and account_sid != number.account_sid:
                if account_sid not in self.accounts:
                    raise ValueError(f"unknown Twilio account {account_sid!r}")
                number.account_sid = account_sid
            for key, value in fields.items():
                if value is not None:
                    setattr(number, key, value.upper() if key.endswith("_method") else value)
            number.date_updated = self.now()
            return number

    # --- the REST API ----------------------------------------------------------------------------------------------

    def authenticate(self, path_sid: str, username: str | None, password: str | None) -> None:
        """Basic auth with AccountSid:AuthToken. API keys (SK...) are not emulated."""
        account = self.accounts.get(username or "")
        if account is None or password is None or password != account.auth_token:
            raise TwilioApiError(20003, "Authenticate", 401)
        if path_sid != username:
            # Twilio answers a valid key used on another account's path with not-found (UNCONFIRMED).
            raise TwilioApiError(20404, f"The requested resource /{API_VERSION}/Accounts/{path_sid} was not found", 404)

    def create_message(
        self,
        account_sid: str,
        *,
        to: str | None,
        from_: str | None,
        body: str | None,
        media_urls: list[str],
        status_callback: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> Message:
        """Validate and queue an outbound message as POST Messages.json does (check order UNCONFIRMED)."""
        with self.lock:
            if not to:
                raise TwilioApiError(21604, "A 'To' phone number is required.")
            if not from_ and not messaging_service_sid:
                raise TwilioApiError(21603, "A 'From' phone number is required.")
            if not body and not media_urls:
                if messaging_service_sid and not from_:
                    raise TwilioApiError(21619, "A text message body or media urls must be specified.")
                raise TwilioApiError(21602, "Message body is required.")
            if body and length_units(body) > MAX_BODY:
                raise TwilioApiError(21617, "The concatenated message body exceeds the 1600 character limit.")
            if len(media_urls) > MAX_MEDIA:
                raise TwilioApiError(21623, "Number of media files exceeds allowed limit.")
            if parse_e164(to) is None:
                raise TwilioApiError(21211, f"The 'To' number {to} is not a valid phone number.")
            if not from_:
                # Messaging Services are not emulated; the sandbox has none to pick a sender from.
                raise TwilioApiError(21701, f"The Messaging Service Sid {messaging_service_sid} is invalid.", 400)
            number = self.numbers.get(from_)
            if number is None or number.account_sid != account_sid:
                raise TwilioApiError(
                    21606,
                    f"The From phone number {from_} is not a valid, SMS-capable inbound phone number or "
                    "short code for your account.",
                )
            if to in self.landlines:
                raise TwilioApiError(21614, f"'To' number {to} is not a valid mobile number")
            if (from_, to) in self.blocks:
                raise TwilioApiError(21610, "Attempt to send to unsubscribed recipient")
            return self._new_message(
                account_sid=account_sid,
                from_=from_,
                to=to,
                body=body or "",
                media=[{"url": url, "content_type": ""} for url in media_urls],
                direction="outbound-api",
                status="queued",
                status_callback=status_callback or None,
            )

    def _new_message(self, *, account_sid: str, media: list[dict[str, str]], **fields: Any) -> Message:
        now = self.now()
        message = Message(
            sid=self.new_sid("MM" if media else "SM"),
            account_sid=account_sid,
            date_created=now,
            date_updated=now,
            seq=next(self._seq),
            num_segments=count_segments(fields.get("body") or ""),
            media=media,
            **fields,
        )
        self.messages[message.sid] = message
        return message

    def get_message(self, account_sid: str, sid: str) -> Message | None:
        message = self.messages.get(sid)
        return message if message is not None and message.account_sid == account_sid else None

    def account_messages(self, account_sid: str) -> list[Message]:
        """Newest first, as Twilio lists them."""
        with self.lock:
            found = [m for m in self.messages.values() if m.account_sid == account_sid]
        return sorted(found, key=lambda m: m.seq, reverse=True)

    # --- status changes and callbacks ------------------------------------------------------------------------------

    def status_callback_url(self, message: Message) -> tuple[str, str] | None:
        """(URL, method) for the message's callbacks: its StatusCallback; else, as a sandbox convenience, the
        status_callback set on its number through the control API (real Twilio uses a number's StatusCallback
        for calls only; seeded numbers leave it empty)."""
        if message.status_callback:
            return message.status_callback, message.status_callback_method
        number = self.numbers.get(message.from_)
        if number is not None and number.status_callback:
            return number.status_callback, number.status_callback_method
        return None

    def advance(self, sid: str, statuses: list[str], error_code: int | None = None) -> list[dict[str, str]]:
        """Move a message through `statuses` (in this logical order) and return the callback parameters of each."""
        with self.lock:
            message = self.messages[sid]
            callbacks = []
            for status in statuses:
                now = self.now()
                message.apply_status(status, now, error_code if status in ("failed", "undelivered") else None)
                callbacks.append(message.callback_params(status, error_code, now))
            return callbacks

    def schedule_auto_progress(self, sid: str) -> None:
        """queued -> sending -> sent -> delivered on a timer, each with its callback (config.auto_progress_messages)."""
        if not self.sandbox.config.auto_progress_messages:
            return
        delay = max(0.0, float(self.sandbox.config.auto_progress_delay_seconds))
        thread = threading.Thread(target=self._auto_progress, args=(sid, delay), name=f"twilio-{sid}", daemon=True)
        thread.start()

    def _auto_progress(self, sid: str, delay: float) -> None:
        for status in AUTO_PROGRESS:
            threading.Event().wait(delay)
            with self.lock:
                if self.sandbox.twilio is not self:  # the sandbox was reset
                    return
                message = self.messages.get(sid)
                if message is None or message.status in FINAL_STATUSES:
                    return  # deleted, or a test drove it to a final status
                [params] = self.advance(sid, [status])
                target = self.status_callback_url(message)
                token = self.accounts[message.account_sid].auth_token
            if target is not None:
                self.submit_callback(target, params, token)

    def submit_callback(self, target: tuple[str, str], params: dict[str, str], auth_token: str) -> None:
        """Queue one status callback on the background sender (a single attempt; no fragment retries)."""
        from sandbox.twilio.webhooks import USER_AGENT, signed_request, split_fragment

        url, method = target
        base, _ = split_fragment(url)
        request_url, data, signature = signed_request(base, method, params, auth_token)
        self.sandbox.sender.submit(
            kind="twilio.status",
            method=method,
            url=request_url,
            headers={"X-Twilio-Signature": signature, "User-Agent": USER_AGENT},
            data=data,
        )

    # --- phones ------------------------------------------------------------------------------------------------------

    def receive_from_phone(
        self, *, from_: str, to: str, body: str, media: list[dict[str, str]], extra_params: dict[str, str]
    ) -> dict[str, Any]:
        """A phone texts one of our numbers: record it, apply STOP/START/HELP, and build the webhook to send."""
        with self.lock:
            number = self.numbers[to]
            keyword = optout.classify(body)
            message = self._new_message(
                account_sid=number.account_sid,
                from_=from_,
                to=to,
                body=body,
                media=media,
                direction="inbound",
                status="received",
            )
            message.date_sent = message.date_created
            if keyword == optout.STOP:
                self.blocks.add((to, from_))
            elif keyword == optout.START:
                self.blocks.discard((to, from_))
            system_reply = None
            if keyword is not None:
                system_reply = {
                    "provider": "twilio",
                    "sid": None,
                    "from": to,
                    "to": from_,
                    "body": optout.REPLIES[keyword],
                    "media": [],
                    "status": "delivered",
                    "direction": "to_phone",
                    "date_created": message.date_created.isoformat(),
                    "seq": next(self._seq),
                }
                self.system_replies.append(system_reply)
            params = self.inbound_params(message, keyword, extra_params)
            return {
                "message": message,
                "keyword": keyword,
                "system_reply": system_reply,
                "params": params,
                "number": number,
                "auth_token": self.accounts[number.account_sid].auth_token,
            }

    def inbound_params(self, message: Message, keyword: str | None, extra: dict[str, str]) -> dict[str, str]:
        """The full parameter set of an inbound webhook (docs/vendors/twilio.md, Inbound webhook), plus any extra ones
        Twilio may add."""
        return message.inbound_params(keyword, extra)

    def reply(
        self,
        inbound: Message,
        *,
        body: str,
        media: list[str],
        to: str | None,
        from_: str | None,
        action: str | None,
        method: str,
    ) -> Message:
        """A TwiML <Message> answer becomes an outbound-reply message (failed with 21610 if the phone opted out)."""
        with self.lock:
            sender = from_ or inbound.to
            recipient = to or inbound.from_
            message = self._new_message(
                account_sid=inbound.account_sid,
                from_=sender,
                to=recipient,
                body=body,
                media=[{"url": url, "content_type": ""} for url in media],
                direction="outbound-reply",
                status="queued",
                status_callback=action,
                status_callback_method=method,
            )
            if (sender, recipient) in self.blocks:
                message.apply_status("failed", self.now(), 21610)
            return message

    def phone_messages(self, phone: str) -> list[dict[str, Any]]:
        """Everything a phone sent to or received from our numbers (Twilio and Zoho Voice), oldest first.
        Outbound messages that failed or were undelivered never reached the phone and are left out."""
        with self.lock:
            entries = [entry for m in self.messages.values() if (entry := m.phone_entry(phone)) is not None]
            entries.extend(dict(r) for r in self.system_replies if r["to"] == phone)
        entries.extend(self.sandbox.voice.phone_messages(phone))
        entries.sort(key=lambda e: (e["date_created"], e.get("seq", 0)))
        for entry in entries:
            entry.pop("seq", None)
        return entries
