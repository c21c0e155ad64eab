"""Zoho's data centres and their hosts: the only ones a manager may point a Zoho account at (core/outbound.py).

docs/security.md gives the sources. UK and AE accounts hosts and every Voice host but the US one are sub-domains of
Zoho's own DC domains; the UK API domain is not confirmed, so it is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZohoDataCentre:
    accounts: str  # the Zoho Accounts (OAuth) host
    api: str | None  # the CRM API domain Zoho hands out with tokens (None: not confirmed, not allowed)
    voice: str  # Zoho Voice's REST host


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
