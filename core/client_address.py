"""The address of the client behind a request, trusting `X-Forwarded-For` only as far as our own proxies wrote it.

Anyone can send `X-Forwarded-For: 1.2.3.4`; only the entries our proxies appended are true. So the header is read
only when the peer (REMOTE_ADDR) is one of our proxies, and from the right: each proxy appends the address it
was called from, so the first address from the right that is not one of ours is the client's. Whatever stands
left of it was written by the client and is ignored. Without proxy settings the peer is the client.

- TRUSTED_PROXIES: addresses or networks of our proxies (`10.0.0.0/8,192.0.2.7`).
- TRUSTED_PROXY_COUNT: for platforms whose proxy addresses are not known in advance (a PaaS router): how many
  proxies stand in front of the app; the client is that many entries from the right of the header. With
  TRUSTED_PROXIES also set, the peer must be one of them.

Logs (core.middleware.RequestLogMiddleware) and the sign-in throttle (accounts.throttle) use this one answer.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"  # no usable peer address (a test client without one, a misconfigured server)


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def trusted_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES parsed; a malformed entry raises ValueError (settings check it at start-up)."""
    return _networks(tuple(entries))


def parse_address(value: str) -> IPAddress | None:
    """An address from a header or REMOTE_ADDR, with a port or brackets tolerated; None when it is none."""
    text = (value or "").strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The client's address as text (canonical form), or "unknown"."""
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return UNKNOWN
    networks = trusted_networks(getattr(settings, "TRUSTED_PROXIES", ()))
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if networks and not _is_trusted(peer, networks):
        return str(peer)  # not called by one of our proxies: the header is the client's own claim
    if not networks and count <= 0:
        return str(peer)  # no proxy configured: the header is never read
    # Several X-Forwarded-For headers arrive joined by commas in META, in order.
    hops = [parse_address(part) for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if count > 0:
        if len(hops) < count:
            return str(peer)  # shorter than our chain: not written by our proxies
        hop = hops[-count]
        return str(hop) if hop is not None else str(peer)
    for hop in reversed(hops):
        if hop is None:
            return str(peer)  # our proxies write addresses only; something is misconfigured
        if not _is_trusted(hop, networks):
            return str(hop)
    return str(hops[0]) if hops and hops[0] is not None else str(peer)  # every hop is ours: the first one
