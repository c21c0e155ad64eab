"""Where a HubSpot account's calls go: the API (and token) base URL, the app base (consent page, record links), the
path family of HUBSPOT_API_VERSION, and the app credentials an account uses.

HubSpot's own hosts are core.outbound's registered ones (apps.py). An operator may point an account at an emulator
(`custom_endpoints`); the sandbox serves HubSpot under HUBSPOT_EMULATOR_PATH of its host, so that path is added to
an operator-set host, since a stored account URL is an origin only (core.outbound)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from core import outbound
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import HubSpotAuthError
from studios.models import ProviderAccount

KIND = "hubspot"
DATE_VERSION = re.compile(r"^\d{4}-\d{2}$")


def _base(account: ProviderAccount | None, *, field: str, configured: str) -> str:
    """The base URL for one of the account's URL fields (see the module docstring)."""
    configured = configured.rstrip("/")
    stored = outbound.origin_of(getattr(account, field, "") or "") if account is not None else ""
    if not stored:
        return configured
    if outbound.vendor_url_allowed(kind=KIND, field=field, url=stored):
        return stored
    if stored == _origin(configured):
        return configured  # the configured URL may carry the emulator's path (DEBUG: {SANDBOX_URL}/hubspot)
    if account is not None and account.custom_endpoints:
        return f"{stored}{hubspot_settings.EMULATOR_PATH.rstrip('/')}"
    raise HubSpotAuthError(
        f"{account.name if account else 'The account'} names {stored} for {field}, which is not one of HubSpot's own "
        "hosts; only an operator may point an account elsewhere.",
        category="ENDPOINT_REFUSED",
    )


def api_base(account: ProviderAccount | None = None) -> str:
    """The API and token endpoint base, e.g. https://api.hubapi.com or http://127.0.0.1:8100/hubspot."""
    return _base(account, field="api_domain", configured=str(hubspot_settings.API_URL))


def app_base(account: ProviderAccount | None = None) -> str:
    """Where people consent ({app_base}/oauth/authorize) and open records, e.g. https://app.hubspot.com."""
    return _base(account, field="accounts_url", configured=str(hubspot_settings.APP_URL))


def app_credentials(account: ProviderAccount) -> tuple[str, str]:
    """(client_id, client_secret): the account's own when it has them, else the server's app (HUBSPOT_CLIENT_*)."""
    from crm.providers.hubspot.tokens import reveal

    client_id = account.client_id or str(hubspot_settings.CLIENT_ID)
    secret = reveal(account.client_secret) if account.client_id else ""
    return client_id, secret or str(hubspot_settings.CLIENT_SECRET)


def _origin(url: str) -> str:
    """The origin of a URL that may carry a path ("" when it has none)."""
    parts = urlsplit(url)
    return outbound.origin_of(f"{parts.scheme}://{parts.netloc}") if parts.scheme and parts.netloc else ""


def same_origin(url: str, base: str) -> bool:
    """Whether an absolute URL (a paging link) is on the API base's origin: a token never goes elsewhere."""
    origin = _origin(url)
    return bool(origin) and origin == _origin(base)


class Paths:
    """The API paths of one path family: a date version ("2026-03": /crm/objects/2026-03/contacts) or "v3" (legacy
    /crm/v3/objects/contacts, associations on /crm/v4)."""

    def __init__(self, version: str | None = None) -> None:
        version = (version or str(hubspot_settings.API_VERSION)).strip().lower()
        if version not in ("v3", "v4") and not DATE_VERSION.match(version):
            raise ValueError(f"HUBSPOT_API_VERSION must be a date version like 2026-03, or v3; not {version!r}")
        self.version = "v3" if version == "v4" else version
        self.legacy = self.version == "v3"

    def _crm(self, api: str, legacy_version: str = "v3") -> str:
        if self.legacy:
            return f"/crm/{legacy_version}/{api}"
        return f"/crm/{api}/{self.version}"

    def objects(self, object_type: str, *rest: str) -> str:
        return "/".join([self._crm("objects"), object_type, *rest])

    def properties(self, object_type: str) -> str:
        return f"{self._crm('properties')}/{object_type}"

    def associations(self, from_type: str, to_type: str, *rest: str) -> str:
        return "/".join([self._crm("associations", "v4"), from_type, to_type, *rest])

    def owners(self, *rest: str) -> str:
        return "/".join([self._crm("owners"), *rest]) if rest else f"{self._crm('owners')}/"

    @staticmethod
    def token_info(token: str) -> str:
        return f"/oauth/v1/access-tokens/{token}"
