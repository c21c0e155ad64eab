"""Where the server may send a request on a tenant's behalf: each vendor's own HTTPS hosts, and never a private
address. docs/security.md states the rules and the sources of the host lists.

Two checks, one module:
- **Stored URLs** (`endpoint_clean`): a provider account's `api_base_url`, `accounts_url` and `api_domain` are an
  origin only (`https://host[:port]`: no path, query, fragment or user name). A manager may choose only among the
  vendor's own hosts for that kind and field (`VENDOR_HOSTS`, which each vendor package fills with
  `vendor_hosts_register` when Django starts); an operator (a superuser, or the tenants file) may
  name another host (the local sandbox, a test emulator), but not a private, loopback or link-local address unless
  OUTBOUND_ALLOW_PRIVATE_HOSTS is on (it defaults to DEBUG, and is on in tests).
- **Every call** (`core.http.make_session`, used for every vendor request): the URL's shape is checked, the host is
  resolved and each address is checked, and the connection goes to an address that was checked, so a vendor host
  that resolves (or is re-pointed) to an internal address is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from core.exceptions import ApplicationError


class OutboundRefused(ApplicationError):
    """A URL the server will not store or call. Deliberately not a `requests.RequestException`: it is a
    configuration problem for a person to fix, never an outage to retry or fail over from."""


# --- the allowlist ------------------------------------------------------------------------------------------------
# (provider kind, ProviderAccount field) -> the hosts a manager may choose. core knows no vendor: each vendor package
# registers its own hosts when Django starts (its AppConfig.ready), and a kind nobody registered allows no host.
VENDOR_HOSTS: dict[tuple[str, str], frozenset[str]] = {}
_VENDOR_NAMES: dict[str, str] = {}


def vendor_hosts_register(*, kind: str, vendor: str, fields: Mapping[str, Iterable[str]]) -> None:
    """Declare the vendor's own hosts for each URL field of a provider account of this kind.

    `vendor` is the name refusals use ("not one of <vendor>'s own addresses"). Registering a kind again replaces
    its hosts field by field (ready() may run more than once in a test process); hosts are lower case, no port.
    A host written `*.example.com` allows every host under example.com (one label or more), not example.com itself:
    vendors that give each customer its own subdomain (a CRM org's own domain)."""
    for field, hosts in fields.items():
        VENDOR_HOSTS[(kind, field)] = frozenset(host.lower().rstrip(".") for host in hosts)
    _VENDOR_NAMES[kind] = vendor


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
    if origin.scheme != "https" or origin.port is not None:
        return False
    hosts = VENDOR_HOSTS.get((kind, field), ())
    return origin.host in hosts or any(_under_wildcard(origin.host, pattern) for pattern in hosts)


def _under_wildcard(host: str, pattern: str) -> bool:
    """Whether `host` is a subdomain that `*.suffix` allows: a DNS name ending in ".suffix" with a non-empty,
    dot-free-at-the-edges label part (so neither "suffix" nor ".suffix" nor an IP literal matches)."""
    if not pattern.startswith("*."):
        return False
    suffix = pattern[1:]  # ".suffix"
    label_part = host[: -len(suffix)] if host.endswith(suffix) else ""
    return bool(label_part) and not label_part.startswith(".") and ".." not in label_part and ":" not in host


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
