"""The client address in logs and in the sign-in throttle comes from X-Forwarded-For only as far as our own proxies
wrote it (TRUSTED_PROXIES / TRUSTED_PROXY_COUNT), counting from the right; a client's own claim is ignored."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from config.env import networks_check
from core.client_address import client_address


def address(remote: str = "203.0.113.10", forwarded: str | None = None) -> str:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


@pytest.fixture
def no_proxies(settings):
    settings.TRUSTED_PROXIES = []
    settings.TRUSTED_PROXY_COUNT = 0


def test_without_proxies_the_header_is_ignored(no_proxies):
    assert address("203.0.113.10", "1.2.3.4") == "203.0.113.10"


def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.7"]
    settings.TRUSTED_PROXY_COUNT = 0
    # The client wrote "6.6.6.6" itself; our two proxies appended 198.51.100.4 (the client) and 10.1.1.1.
    assert address("192.0.2.7", "6.6.6.6, 198.51.100.4, 10.1.1.1") == "198.51.100.4"
    assert address("10.2.3.4", "198.51.100.4") == "198.51.100.4"
    # A peer that is not one of ours: its header is its own claim.
    assert address("203.0.113.10", "198.51.100.4") == "203.0.113.10"
    # Only our proxies in the chain: the first of them.
    assert address("10.2.3.4", "10.9.9.9") == "10.9.9.9"
    assert address("10.2.3.4") == "10.2.3.4"


def test_a_known_number_of_proxies_counts_from_the_right(settings):
    settings.TRUSTED_PROXIES = []
    settings.TRUSTED_PROXY_COUNT = 2
    assert address("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2") == "198.51.100.4"
    assert address("10.0.0.1", "10.0.0.2") == "10.0.0.1"  # shorter than the chain: not written by it


def test_ports_brackets_and_mapped_addresses_are_normalized(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.TRUSTED_PROXY_COUNT = 0
    assert address("10.0.0.1", "198.51.100.4:51234") == "198.51.100.4"
    assert address("10.0.0.1", "[2001:db8::1]:443") == "2001:db8::1"
    assert address("::ffff:203.0.113.5") == "203.0.113.5"
    assert address("not-an-address") == "unknown"


def test_a_malformed_trusted_proxy_is_refused_at_start_up():
    networks_check("TRUSTED_PROXIES", ["10.0.0.0/8", "2001:db8::/32"])
    with pytest.raises(ImproperlyConfigured, match=r"TRUSTED_PROXIES: 'proxy\.internal' is not an IP address"):
        networks_check("TRUSTED_PROXIES", ["proxy.internal"])


def rendered(caplog) -> list[dict]:
    formatter = next(
        h.formatter
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    return [json.loads(formatter.format(record)) for record in caplog.records]


@pytest.mark.django_db
def test_the_request_log_line_carries_the_trusted_address_not_the_header(client, caplog, no_proxies):
    caplog.set_level(logging.INFO)
    client.get("/healthz", REMOTE_ADDR="203.0.113.10", HTTP_X_FORWARDED_FOR="8.8.8.8")
    started = [line for line in rendered(caplog) if line.get("event") == "request_started"]
    assert started
    assert started[-1]["ip"] == "203.0.113.10"


@pytest.mark.django_db
def test_the_request_log_line_follows_a_trusted_proxy(client, caplog, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.TRUSTED_PROXY_COUNT = 0
    caplog.set_level(logging.INFO)
    client.get("/healthz", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="8.8.8.8, 198.51.100.4")
    started = [line for line in rendered(caplog) if line.get("event") == "request_started"]
    assert started[-1]["ip"] == "198.51.100.4"
