"""Twilio's REST API (2010-04-01, JSON) for Messages, IncomingPhoneNumbers and the Account, and the control API
under /_sandbox/twilio/ that drives status callbacks and lets a phone text a studio number.

The unmodified `twilio` client talks to it after `client.api.base_url = sandbox.url` (twilio 9.x caches the Api
domain on the client, so the assignment sticks), or through an `http_client` that rewrites https://api.twilio.com.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json, twilio_error
from sandbox.state import SandboxState
from sandbox.twilio import webhooks
from sandbox.twilio.e164 import parse_e164
from sandbox.twilio.models import API_VERSION, STATUSES, Message, TwilioApiError

PREFIX = f"/{API_VERSION}/Accounts"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


def _error(exc: TwilioApiError) -> Response:
    response = twilio_error(exc.code, exc.message, status=exc.status)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


def _authenticate(sandbox: SandboxState, request: Request, account_sid: str) -> Response | None:
    auth = request.authorization
    try:
        sandbox.twilio.authenticate(
            account_sid,
            auth.username if auth and auth.type == "basic" else None,
            auth.password if auth and auth.type == "basic" else None,
        )
    except TwilioApiError as exc:
        return _error(exc)
    return None


def _not_found(request: Request) -> Response:
    return twilio_error(20404, f"The requested resource {request.path} was not found", status=404)


# --- Messages ------------------------------------------------------------------------------------------------------


def messages(sandbox: SandboxState, request: Request, account_sid: str) -> Response:
    denied = _authenticate(sandbox, request, account_sid)
    if denied is not None:
        return denied
    if request.method == "POST":
        return _create_message(sandbox, request, account_sid)
    return _list_messages(sandbox, request, account_sid)


def _create_message(sandbox: SandboxState, request: Request, account_sid: str) -> Response:
    form = request.form
    try:
        message = sandbox.twilio.create_message(
            account_sid,
            to=form.get("To"),
            from_=form.get("From"),
            body=form.get("Body"),
            media_urls=form.getlist("MediaUrl"),
            status_callback=form.get("StatusCallback"),
            messaging_service_sid=form.get("MessagingServiceSid"),
        )
    except TwilioApiError as exc:
        return _error(exc)
    sandbox.twilio.schedule_auto_progress(message.sid)
    return json_response(message.as_json(), 201)


def _parse_date_filter(value: str) -> date | datetime | None:
    """`YYYY-MM-DD`, ISO 8601 datetimes (what twilio-python sends: `2019-06-11T00:00:00Z`), RFC 2822, or
    `06/11/2019 22:05:25 MST` (the spec's examples)."""
    value = value.strip()
    parsers = (
        date.fromisoformat,
        lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")),
        parsedate_to_datetime,
        lambda v: datetime.strptime(v.rsplit(" ", 1)[0], "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC),
    )
    for parse in parsers:
        try:
            parsed = parse(value)
        except (ValueError, TypeError, IndexError):
            continue
        if isinstance(parsed, datetime) and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    return None


def _date_matches(message: Message, op: str, bound: date | datetime) -> bool:
    """DateSent matches the day; DateSent< / DateSent> are inclusive, by day when the bound is a date or a
    midnight (as twilio-python sends dates), else by instant (UNCONFIRMED)."""
    if message.date_sent is None:
        return False
    if isinstance(bound, datetime) and (op == "=" or bound.timetz().replace(tzinfo=None) == datetime.min.time()):
        bound = bound.astimezone(UTC).date()
    sent: date | datetime = message.date_sent if isinstance(bound, datetime) else message.date_sent.date()
    return {"=": sent == bound, "<": sent <= bound, ">": sent >= bound}[op]


def _list_messages(sandbox: SandboxState, request: Request, account_sid: str) -> Response:
    args = request.args
    filters: dict[str, str] = {}
    found = sandbox.twilio.account_messages(account_sid)
    if args.get("To"):
        filters["To"] = args["To"]
        found = [m for m in found if m.to == args["To"]]
    if args.get("From"):
        filters["From"] = args["From"]
        found = [m for m in found if m.from_ == args["From"]]
    for key, op in (("DateSent", "="), ("DateSent<", "<"), ("DateSent>", ">")):
        if args.get(key):
            bound = _parse_date_filter(args[key])
            if bound is None:
                return twilio_error(20001, f"Invalid value for {key}: {args[key]}", status=400)
            filters[key] = args[key]
            found = [m for m in found if _date_matches(m, op, bound)]
    return _page(request, f"{PREFIX}/{account_sid}/Messages.json", "messages", found, filters)


def _page(request: Request, path: str, key: str, items: list[Any], filters: dict[str, str]) -> Response:
    """Twilio's page envelope: PageSize (default 50, max 1000), Page (client state) and PageToken (a cursor:
    PA<sid> = after that record, PB<sid> = the page before it)."""
    args = request.args
    try:
        page_size = max(1, min(MAX_PAGE_SIZE, int(args.get("PageSize") or DEFAULT_PAGE_SIZE)))
        page = max(0, int(args.get("Page") or 0))
    except ValueError:
        return twilio_error(20001, "Invalid PageSize or Page", status=400)
    sids = [item.sid for item in items]
    token = args.get("PageToken") or ""
    start = page * page_size
    if token[2:] in sids:
        position = sids.index(token[2:])
        start = position + 1 if token.startswith("PA") else max(0, position - page_size)
    chunk = items[start : start + page_size]

    def uri(page_number: int, page_token: str | None = None) -> str:
        query = {**filters, "PageSize": page_size, "Page": page_number}
        if page_token:
            query["PageToken"] = page_token
        return f"{path}?{urlencode(query)}"

    more = start + page_size < len(items)
    body = {
        "end": start + max(len(chunk), 1) - 1,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, f"PA{chunk[-1].sid}") if more and chunk else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1, f"PB{chunk[0].sid}") if page > 0 and chunk else None,
        "start": start,
        "uri": uri(page, token or None),
        key: [item.as_json() for item in chunk],
    }
    return json_response(body)


def message(sandbox: SandboxState, request: Request, account_sid: str, sid: str) -> Response:
    denied = _authenticate(sandbox, request, account_sid)
    if denied is not None:
        return denied
    with sandbox.lock:
        found = sandbox.twilio.get_message(account_sid, sid)
        if found is None:
            return _not_found(request)
        if request.method == "DELETE":
            del sandbox.twilio.messages[sid]
            return Response(status=204)
        if request.method == "POST":
            # Update: redact the body (Body=""); canceling applies only to scheduled messages, not emulated.
            if "Body" in request.form:
                if request.form["Body"] != "":
                    return twilio_error(20001, "Body can only be updated to an empty string", status=400)
                found.body = ""
                found.date_updated = sandbox.twilio.now()
        return json_response(found.as_json())


# --- IncomingPhoneNumbers and the Account ---------------------------------------------------------------------------

NUMBER_FIELDS = {
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsFallbackMethod": "sms_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "FriendlyName": "friendly_name",
}


def incoming_numbers(sandbox: SandboxState, request: Request, account_sid: str) -> Response:
    denied = _authenticate(sandbox, request, account_sid)
    if denied is not None:
        return denied
    with sandbox.lock:
        found = [n for n in sandbox.twilio.numbers.values() if n.account_sid == account_sid]
    filters = {}
    if request.args.get("PhoneNumber"):
        filters["PhoneNumber"] = request.args["PhoneNumber"]
        found = [n for n in found if request.args["PhoneNumber"] in n.phone_number]
    if request.args.get("FriendlyName"):
        filters["FriendlyName"] = request.args["FriendlyName"]
        found = [n for n in found if n.friendly_name == request.args["FriendlyName"]]
    path = f"{PREFIX}/{account_sid}/IncomingPhoneNumbers.json"
    return _page(request, path, "incoming_phone_numbers", found, filters)


def incoming_number(sandbox: SandboxState, request: Request, account_sid: str, sid: str) -> Response:
    denied = _authenticate(sandbox, request, account_sid)
    if denied is not None:
        return denied
    with sandbox.lock:
        found = next(
            (n for n in sandbox.twilio.numbers.values() if n.sid == sid and n.account_sid == account_sid), None
        )
        if found is None:
            return _not_found(request)
        if request.method == "POST":
            changes = {NUMBER_FIELDS[k]: v for k, v in request.form.items() if k in NUMBER_FIELDS}
            sandbox.twilio.set_number(found.phone_number, **changes)
        return json_response(found.as_json())


def account(sandbox: SandboxState, request: Request, account_sid: str) -> Response:
    denied = _authenticate(sandbox, request, account_sid)
    if denied is not None:
        return denied
    return json_response(sandbox.twilio.accounts[account_sid].as_json())


# --- control API -----------------------------------------------------------------------------------------------------


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def control_accounts(sandbox: SandboxState, request: Request) -> Response:
    """GET: the accounts with their tokens. POST {"sid"?, "auth_token"?, "friendly_name"?}: add one."""
    if request.method == "POST":
        body = request_json(request) or {}
        sid = body.get("sid")
        if sid is not None and (not isinstance(sid, str) or not sid.startswith("AC") or len(sid) != 34):
            return _bad("an account sid is 'AC' followed by 32 characters")
        created = sandbox.twilio.add_account(sid, body.get("auth_token"), body.get("friendly_name") or "")
        return json_response({"sid": created.sid, "auth_token": created.auth_token}, 201)
    with sandbox.lock:
        listed = [{"sid": a.sid, "auth_token": a.auth_token} for a in sandbox.twilio.accounts.values()]
    return json_response(listed)


def control_numbers(sandbox: SandboxState, request: Request) -> Response:
    """GET: every number. POST {"number", "account_sid"?, "sms_url"?, "sms_method"?, "sms_fallback_url"?,
    "status_callback"?, ...}: register a number or change its webhooks."""
    if request.method == "POST":
        body = request_json(request) or {}
        fields = dict(body)
        number = fields.pop("number", None)
        account_sid = fields.pop("account_sid", None)
        if not number:
            return _bad("'number' is required")
        try:
            registered = sandbox.twilio.set_number(number, account_sid=account_sid, **fields)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        return json_response(registered.as_json())
    with sandbox.lock:
        listed = [n.as_json() for n in sandbox.twilio.numbers.values()]
    return json_response(listed)


def control_landlines(sandbox: SandboxState, request: Request) -> Response:
    """GET: numbers that answer 21614. POST {"numbers": [...]}: replace the list."""
    if request.method == "POST":
        numbers = (request_json(request) or {}).get("numbers")
        if not isinstance(numbers, list):
            return _bad("'numbers' must be a list")
        with sandbox.lock:
            sandbox.twilio.landlines = {str(n) for n in numbers}
    return json_response(sorted(sandbox.twilio.landlines))


def control_messages(sandbox: SandboxState, request: Request) -> Response:
    """Every message of every account, oldest first, filtered by ?to= &from= &direction= &account_sid=."""
    with sandbox.lock:
        found = sorted(sandbox.twilio.messages.values(), key=lambda m: m.seq)
        args = request.args
        rows = []
        for m in found:
            if args.get("to") and m.to != args["to"]:
                continue
            if args.get("from") and m.from_ != args["from"]:
                continue
            if args.get("direction") and m.direction != args["direction"]:
                continue
            if args.get("account_sid") and m.account_sid != args["account_sid"]:
                continue
            row = m.as_json()
            row["media_urls"] = [item["url"] for item in m.media]
            row["status_callback"] = m.status_callback
            rows.append(row)
    return json_response(rows)


def control_message_status(sandbox: SandboxState, request: Request, sid: str) -> Response:
    """{"statuses": ["sent", "delivered"], "error_code": 30003?, "order": "in_order"|"reversed", "duplicate": bool}:
    apply the statuses (the message ends in the last one) and deliver their callbacks now, in the given order,
    each twice when duplicate; answers the message and every delivery."""
    body = request_json(request) or {}
    statuses = body.get("statuses")
    if not isinstance(statuses, list) or not statuses or any(s not in STATUSES for s in statuses):
        return _bad(f"'statuses' must be a non-empty list of {list(STATUSES)}")
    order = body.get("order", "in_order")
    if order not in ("in_order", "reversed"):
        return _bad("'order' is 'in_order' or 'reversed'")
    error_code = body.get("error_code")
    if error_code is not None and not isinstance(error_code, int):
        return _bad("'error_code' must be an integer")
    with sandbox.lock:
        if sid not in sandbox.twilio.messages:
            return _bad(f"no message {sid}", 404)
        callbacks = sandbox.twilio.advance(sid, statuses, error_code)
        found = sandbox.twilio.messages[sid]
        target = sandbox.twilio.status_callback_url(found)
        token = sandbox.twilio.accounts[found.account_sid].auth_token
        snapshot = found.as_json()
    if order == "reversed":
        callbacks.reverse()
    deliveries = []
    if target is not None:
        url, method = target
        for params in callbacks:
            for _ in range(2 if body.get("duplicate") else 1):
                deliveries += webhooks.deliver(
                    sandbox, kind="twilio.status", url=url, method=method, params=params, auth_token=token
                )
    return json_response({"message": snapshot, "deliveries": webhooks.as_dicts(deliveries)})


def _media(items: Any) -> list[dict[str, str]] | None:
    media = []
    for item in items or []:
        if isinstance(item, str):
            media.append({"url": item, "content_type": "image/jpeg"})
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            media.append({"url": item["url"], "content_type": str(item.get("content_type") or "image/jpeg")})
        else:
            return None
    return media


class PhoneTextError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def text_from_phone(
    sandbox: SandboxState,
    *,
    from_: Any,
    to: Any,
    body: Any = "",
    media: Any = None,
    extra_params: Any = None,
) -> dict[str, Any]:
    """A phone texts one of the sandbox's numbers (the people page and tests use this).

    Twilio numbers: Twilio's STOP/START/HELP handling, then the signed webhook to the number's SMS URL (retries
    and fallback as configured), then the TwiML answer becomes outbound replies. Zoho Voice numbers: the text
    lands in the Voice SMS logs (the product polls them; Zoho sends no webhook). Raises PhoneTextError."""
    text = body or ""
    parsed_media = _media(media)
    extra = extra_params or {}
    if not isinstance(from_, str) or parse_e164(from_) is None:
        raise PhoneTextError("'from' must be a valid E.164 phone number")
    if parsed_media is None or not isinstance(extra, dict) or not isinstance(text, str):
        raise PhoneTextError("'media' is a list of URLs or {url, content_type}; 'extra_params' an object; 'body' text")
    if not text and not parsed_media:
        raise PhoneTextError("a text needs a 'body' or 'media'")
    if to in sandbox.voice.numbers:
        return {"provider": "zoho_voice", "log": sandbox.voice.receive(from_=from_, to=to, message=text)}
    if to not in sandbox.twilio.numbers:
        raise PhoneTextError(f"{to!r} is not a Twilio or Zoho Voice number of the sandbox", 404)
    received = sandbox.twilio.receive_from_phone(from_=from_, to=to, body=text, media=parsed_media, extra_params=extra)
    number, inbound = received["number"], received["message"]
    deliveries = []
    if number.sms_url:
        deliveries = webhooks.deliver(
            sandbox,
            kind="twilio.inbound",
            url=number.sms_url,
            method=number.sms_method,
            params=received["params"],
            auth_token=received["auth_token"],
            fallback_url=number.sms_fallback_url,
            fallback_method=number.sms_fallback_method,
        )
    replies, twiml_error = [], None
    answered = next((d for d in reversed(deliveries) if webhooks.failure_kind(d) is None), None)
    if answered is not None:
        verbs, twiml_error = webhooks.parse_twiml(answered.response_text)
        for verb in verbs:
            reply = sandbox.twilio.reply(
                inbound,
                body=verb.body,
                media=verb.media,
                to=verb.to,
                from_=verb.from_,
                action=verb.action,
                method=verb.method,
            )
            if reply.status == "queued":
                sandbox.twilio.schedule_auto_progress(reply.sid)
            replies.append(reply.as_json())
    return {
        "provider": "twilio",
        "message": inbound.as_json(),
        "opt_out_type": received["keyword"],
        "auto_reply": received["system_reply"],
        "deliveries": webhooks.as_dicts(deliveries),
        "replies": replies,
        "twiml_error": twiml_error,
    }


def phone_send(sandbox: SandboxState, request: Request) -> Response:
    """{"from", "to", "body", "extra_params"?, "media"?: [url | {url, content_type}]}: see text_from_phone."""
    body = request_json(request) or {}
    try:
        result = text_from_phone(
            sandbox,
            from_=body.get("from"),
            to=body.get("to"),
            body=body.get("body"),
            media=body.get("media"),
            extra_params=body.get("extra_params"),
        )
    except PhoneTextError as exc:
        return _bad(str(exc), exc.status)
    return json_response(result, 201)


def phone_messages(sandbox: SandboxState, request: Request, number: str) -> Response:
    """What a phone sent and received (Twilio and Zoho Voice), oldest first: [{provider, sid, from, to, body, media,
    status, direction: "to_phone"|"from_phone", date_created}]."""
    number = number.strip()
    if not number.startswith("+"):
        number = "+" + number
    return json_response(sandbox.twilio.phone_messages(number))


def control_optouts(sandbox: SandboxState, request: Request) -> Response:
    """The (sender, recipient) pairs Twilio blocks after a STOP."""
    with sandbox.lock:
        pairs = sorted(sandbox.twilio.blocks)
    return json_response([{"from": sender, "to": recipient} for sender, recipient in pairs])


ROUTES = [
    (f"{PREFIX}/<account_sid>.json", ["GET"], account),
    (f"{PREFIX}/<account_sid>/Messages.json", ["GET", "POST"], messages),
    (f"{PREFIX}/<account_sid>/Messages/<sid>.json", ["GET", "POST", "DELETE"], message),
    (f"{PREFIX}/<account_sid>/IncomingPhoneNumbers.json", ["GET"], incoming_numbers),
    (f"{PREFIX}/<account_sid>/IncomingPhoneNumbers/<sid>.json", ["GET", "POST"], incoming_number),
    ("/_sandbox/twilio/accounts", ["GET", "POST"], control_accounts),
    ("/_sandbox/twilio/numbers", ["GET", "POST"], control_numbers),
    ("/_sandbox/twilio/landlines", ["GET", "POST"], control_landlines),
    ("/_sandbox/twilio/messages", ["GET"], control_messages),
    ("/_sandbox/twilio/messages/<sid>/status", ["POST"], control_message_status),
    ("/_sandbox/twilio/optouts", ["GET"], control_optouts),
    ("/_sandbox/twilio/phones/send", ["POST"], phone_send),
    ("/_sandbox/twilio/phones/<number>/messages", ["GET"], phone_messages),
]
