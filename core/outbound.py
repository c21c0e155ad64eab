"""Where the server may send a request on a tenant's behalf: each vendor's own HTTPS hosts, and never a private
address. docs/security.md states the rules and the sources of the host lists.

Two checks, one module:
- **Stored URLs** (`endpoint_clean`): a provider account's `api_base_url`, `accounts_url` and `api_domain` are an
  origin only (`https://host[:port]`: no path, query, fragment or user name). A manager may choose only among the
  vendor's own hosts for that kind and field (`VENDOR_HOSTS`); an operator (a superuser, or the tenants file) may
  name another host (the local sandbox, a test emulator), but not a private, loopback or link-local address unless
  OUTBOUND_ALLOW_PRIVATE_HOSTS is on (it defaults to DEBUG, and is on in tests).
- **Every call** (`core.http.make_session`, used for every vendor request): the URL's shape is checked, the host is
  resolved and each address is checked, and the connection goes to an address that was checked, so a vendor host
  that resolves (or is re-pointed) to an internal address is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from core.exceptions import ApplicationError


class OutboundRefused(ApplicationError):
    """A URL the server will not store or call. Deliberately not a `requests.RequestException`: it is a
    configuration problem for a person to fix, never an outage to retry or fail over from."""


# --- the allowlist ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZohoDataCentre:
    accounts: str  # the Zoho Accounts (OAuth) host
    api: str | None  # the CRM API domain Zoho hands out with tokens (None: not confirmed, not allowed)
    voice: str  # Zoho Voice's REST host


# Zoho's data centres (docs/security.md gives the sources). UK and AE accounts hosts and every Voice host but the US
# one are sub-domains of Zoho's own DC domains; the UK API domain is not confirmed, so it is not listed.
ZOHO_DATA_CENTRES: dict[str, ZohoDataCentre] = {
    "us": ZohoDataCentre("accounts.zoho.com", "www.zohoapis.com", "voice.zoho.com"),
    "eu": ZohoDataCentre("accounts.zoho.eu", "www.zohoapis.eu", "voice.zoho.eu"),
    "in": ZohoDataCentre("accounts.zoho.in", "www.zohoapis.in", "voice.zoho.in"),
    "au": ZohoDataCentre("accounts.zoho.com.au", "www.zohoapis.com.au", "voice.zoho.com.au"),
    "jp": ZohoDataCentre("accounts.zoho.jp", "www.zohoapis.jp", "voice.zoho.jp"),
    "cn": ZohoDataCentre("accounts.zoho.com.cn", "www.zohoapis.com.cn", "voice.zoho.com.cn"),
    "ca": ZohoDataCentre("accounts.zohocloud.ca", "www.zohoapis.ca", "voice.zohocloud.ca"),
    "sa": ZohoDataCentre("accounts.zoho.sa", "www.zohoapis.sa", "voice.zoho.sa"),
    "ae": ZohoDataCentre("accounts.zoho.ae", "www.zohoapis.ae", "voice.zoho.ae"),
    "uk": ZohoDataCentre("accounts.zoho.uk", None, "voice.zoho.uk"),
}
ZOHO_ACCOUNTS_HOSTS = frozenset(dc.accounts for dc in ZOHO_DATA_CENTRES.values())
ZOHO_API_HOSTS = frozenset(dc.api for dc in ZOHO_DATA_CENTRES.values() if dc.api)
ZOHO_VOICE_HOSTS = frozenset(dc.voice for dc in ZOHO_DATA_CENTRES.values())
# Twilio's REST API. Regional edge hosts are not used: TWILIO_EDGE/TWILIO_REGION stay unset (docs/messaging.md).
TWILIO_API_HOSTS = frozenset({"api.twilio.com"})

# (provider kind, ProviderAccount field) -> the hosts a manager may choose.
VENDOR_HOSTS: dict[tuple[str, str], frozenset[str]] = {
    ("twilio", "api_base_url"): TWILIO_API_HOSTS,
    ("zoho_crm", "accounts_url"): ZOHO_ACCOUNTS_HOSTS,
    ("zoho_crm", "api_domain"): ZOHO_API_HOSTS,
    ("zoho_voice", "accounts_url"): ZOHO_ACCOUNTS_HOSTS,
    ("zoho_voice", "api_base_url"): ZOHO_VOICE_HOSTS,
}
_VENDOR_NAMES = {"twilio": "Twilio", "zoho_crm": "Zoho", "zoho_voice": "Zoho"}


def allow_private() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE_HOSTS", False))


# --- stored URLs ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # lower case, no trailing dot, no brackets around an IPv6 address
    port: int | None  # None: the scheme's default

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def origin_parse(url: str) -> Origin:
    """The origin a stored vendor URL names; OutboundRefused if it is anything more (or less) than an origin."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"{text!r} is not a valid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused(f"{text!r}: only https:// addresses are allowed.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused(f"{text!r}: a user name or password in the address is not allowed.")
    if parts.query or "?" in text:
        raise OutboundRefused(f"{text!r}: a query string is not allowed; enter the address only.")
    if parts.fragment or "#" in text:
        raise OutboundRefused(f"{text!r}: a fragment (#...) is not allowed; enter the address only.")
    if parts.path not in ("", "/"):
        raise OutboundRefused(f"{text!r}: a path is not allowed; enter the address only (https://host).")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise OutboundRefused(f"{text!r} names no host.")
    if port == {"https": 443, "http": 80}[scheme]:
        port = None
    return Origin(scheme, host, port)


def vendor_url_allowed(*, kind: str, field: str, url: str) -> bool:
    """Whether `url` is one of the vendor's own HTTPS hosts for this kind of account and field."""
    try:
        origin = origin_parse(url)
    except OutboundRefused:
        return False
    return origin.scheme == "https" and origin.port is None and origin.host in VENDOR_HOSTS.get((kind, field), ())


def vendor_hosts(*, kind: str, field: str) -> list[str]:
    return sorted(VENDOR_HOSTS.get((kind, field), ()))


def endpoint_clean(url: str, *, kind: str, field: str, operator: bool) -> str:
    """The normalised origin to store for an account's URL field, or OutboundRefused saying why not.

    A manager may store only the vendor's own hosts; an operator may store another https host, and a private
    or loopback one (or plain http) only where OUTBOUND_ALLOW_PRIVATE_HOSTS allows it."""
    origin = origin_parse(url)
    if vendor_url_allowed(kind=kind, field=field, url=url):
        return str(origin)
    if not operator:
        if origin.scheme != "https":
            raise OutboundRefused(f"{url}: only https:// addresses are allowed.")
        hosts = ", ".join(vendor_hosts(kind=kind, field=field))
        raise OutboundRefused(
            f"{url} is not one of {_VENDOR_NAMES.get(kind, 'the vendor')}'s own addresses for this field "
            f"({hosts}); only an operator may point an account elsewhere."
        )
    literal = _literal_address(origin.host)
    private = origin.host == "localhost" or origin.host.endswith(".localhost")
    private = private or (literal is not None and not address_is_public(literal))
    if private and not allow_private():
        raise OutboundRefused(
            f"{url} is a private, loopback or link-local address; vendor requests never go there "
            "(OUTBOUND_ALLOW_PRIVATE_HOSTS is off)."
        )
    if origin.scheme != "https" and not allow_private():
        raise OutboundRefused(f"{url}: only https:// addresses are allowed.")
    return str(origin)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, normalised, or "" when it is not a plain origin."""
    try:
        return str(origin_parse(url))
    except OutboundRefused:
        return ""


# --- call time --------------------------------------------------------------------------------------------------
def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Only globally routable unicast addresses: no private, loopback, link-local (cloud metadata), shared,
    reserved, multicast or unspecified ones, and an IPv4-mapped IPv6 address is judged as the IPv4 it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def request_url_check(url: str) -> None:
    """The shape a request URL must have at call time (the client adds path and query itself)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise OutboundRefused(f"Refused to call an invalid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or (scheme == "http" and not allow_private()):
        raise OutboundRefused(f"Refused to call {parts.hostname or url}: only https:// addresses are called.")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused(f"Refused to call {parts.hostname}: a user name or password in the URL is not allowed.")
    if not parts.hostname:
        raise OutboundRefused("Refused to call a URL without a host.")


def host_addresses_check(host: str, port: int | None) -> list[tuple[Any, ...]]:
    """Resolve `host` and return its addresses (getaddrinfo tuples) if every one may be called; otherwise
    OutboundRefused. One non-public address is enough to refuse: the connection could go to any of them."""
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise  # an unknown host is an ordinary connection failure for the caller, not a refusal
    if allow_private():
        return infos
    for info in infos:
        address = _literal_address(str(info[4][0]))
        if address is None or not address_is_public(address):
            raise OutboundRefused(
                f"Refused to call {name}: it resolves to {info[4][0]}, a private, loopback or link-local address "
                "(OUTBOUND_ALLOW_PRIVATE_HOSTS is off)."
            )
    return infos
