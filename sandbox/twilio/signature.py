"""`X-Twilio-Signature` (docs/vendors/twilio.md, Signature), implemented from the algorithm rather than borrowed from
twilio-python, so the tests can check one against the other.

signature = Base64(HMAC-SHA1(auth token, URL + for each key in byte order: key + value, values of a repeated key
sorted)). The URL is the one Twilio requested: scheme, host, port if given, path and query exactly as configured,
without any `#...` connection-override fragment (docs/vendors/twilio.md, Timeouts and retries: the fragment is not sent
to the server; whether Twilio signs it is UNCONFIRMED, so the sandbox never does). GET webhooks carry their parameters
in the URL and sign only the URL. JSON bodies are signed as the URL with `bodySHA256=<hex sha256 of the body>` in its
query.

Like twilio-python's validator, identical repeated values of one key are counted once (UNCONFIRMED on Twilio's
side; never arises in what the sandbox sends).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SIGNATURE_HEADER = "X-Twilio-Signature"


def _pairs(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    if params is None:
        return grouped
    if hasattr(params, "getlist"):  # werkzeug MultiDict / Django QueryDict
        items = [(key, value) for key in params for value in params.getlist(key)]  # type: ignore[union-attr]
    elif isinstance(params, Mapping):
        items = []
        for key, value in params.items():
            if isinstance(value, list | tuple):
                items.extend((key, item) for item in value)
            else:
                items.append((key, value))
    else:
        items = list(params)
    for key, value in items:
        grouped.setdefault(str(key), set()).add(str(value))
    return grouped


def compute_signature(auth_token: str, url: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    payload = url
    grouped = _pairs(params)
    for key in sorted(grouped):
        for value in sorted(grouped[key]):
            payload += key + value
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def body_sha256(body: str | bytes) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()


def url_with_body_hash(url: str, body: str | bytes) -> str:
    """The URL Twilio requests (and signs, with no parameters appended) for a JSON body."""
    return f"{url}{'&' if urlsplit(url).query else '?'}bodySHA256={body_sha256(body)}"


def is_valid(auth_token: str, url: str, params: Any, signature: str) -> bool:
    """Constant-time check; `params` is the form (POST) or None (GET), or the raw body when the URL has bodySHA256."""
    query = dict(parse_qsl(urlsplit(url).query))
    if "bodySHA256" in query and isinstance(params, str | bytes):
        if not hmac.compare_digest(body_sha256(params), query["bodySHA256"]):
            return False
        params = None
    return hmac.compare_digest(compute_signature(auth_token, url, params), signature or "")


def split_fragment(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its `#...` fragment, and the fragment's connection overrides (`ct`, `rt`, `tt`, `rc`, `rp`)."""
    base, _, fragment = url.partition("#")
    return base, dict(parse_qsl(fragment, keep_blank_values=True)) if fragment else {}
