"""The kinds of provider account and what each kind is: the one table of vendor facts the tenancy model keeps.

A kind's value is stored in every ProviderAccount, StudioAccount and PhoneNumber row and in the tenants files
customers already have (`kind: zoho_crm`), so the values stay as they are. Each kind says which of the account's
columns it uses, which it needs, and the vendor's default URLs; `ProviderAccount.clean`, the admin and the tenants
file read them from here. Which kinds are CRM connections is said here too (`CRM_KINDS`), because studios sits
below the CRM layer: crm.registry's providers serve exactly these kinds (tests/studios/test_provider_kinds.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.validators import RegexValidator
from django.db import models


class ProviderKind(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    ZOHO_CRM = "zoho_crm", "Zoho CRM"
    ZOHO_VOICE = "zoho_voice", "Zoho Voice"
    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    DYNAMICS = "dynamics", "Microsoft Dynamics 365"


class NumberProvider(models.TextChoices):
    """The kinds that send and receive texts: a phone number belongs to an account of one of them."""

    TWILIO = ProviderKind.TWILIO.value, ProviderKind.TWILIO.label
    ZOHO_VOICE = ProviderKind.ZOHO_VOICE.value, ProviderKind.ZOHO_VOICE.label


# The kinds whose accounts are CRM connections (members' CRM user ids, the mirror, lead intakes are keyed by one).
CRM_KINDS: frozenset[str] = frozenset(
    {
        ProviderKind.ZOHO_CRM.value,
        ProviderKind.SALESFORCE.value,
        ProviderKind.HUBSPOT.value,
        ProviderKind.DYNAMICS.value,
    }
)

# Vendor defaults; an account stores its own URLs so any region (data centre), or the local sandbox, works as is.
DEFAULT_URLS: dict[str, dict[str, str]] = {
    ProviderKind.TWILIO: {"api_base_url": "https://api.twilio.com"},
    ProviderKind.ZOHO_CRM: {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"},
    ProviderKind.ZOHO_VOICE: {"accounts_url": "https://accounts.zoho.com", "api_base_url": "https://voice.zoho.com"},
    # The login host; api_domain is the org's own instance, which Salesforce names when the account is connected.
    ProviderKind.SALESFORCE: {"accounts_url": "https://login.salesforce.com"},
    # accounts_url: where a person consents (app.hubspot.com); api_domain: the API and token host.
    ProviderKind.HUBSPOT: {"accounts_url": "https://app.hubspot.com", "api_domain": "https://api.hubapi.com"},
    # accounts_url: the Microsoft Entra ID login host; api_domain: the customer's Dataverse environment URL
    # (https://<org>.crm.dynamics.com), which only the customer can name.
    ProviderKind.DYNAMICS: {"accounts_url": "https://login.microsoftonline.com"},
}
# What each kind needs before it can be used. Secrets may be filled in later (e.g. by connecting the CRM).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    ProviderKind.TWILIO: ("account_sid", "api_base_url"),
    ProviderKind.ZOHO_CRM: ("client_id", "accounts_url", "api_domain"),
    ProviderKind.ZOHO_VOICE: ("client_id", "accounts_url", "api_base_url"),
    ProviderKind.SALESFORCE: ("client_id", "accounts_url"),
    ProviderKind.HUBSPOT: ("client_id", "accounts_url", "api_domain"),
    # Leadline's one multi-tenant Entra app is the server's (DYNAMICS_CLIENT_ID) unless the account names its own.
    ProviderKind.DYNAMICS: ("accounts_url", "api_domain"),
}
# Fields that belong to another kind and must stay empty, so one vendor's token never sits on another's row.
KIND_FIELDS: dict[str, frozenset[str]] = {
    ProviderKind.TWILIO: frozenset({"account_sid", "auth_token", "api_base_url"}),
    ProviderKind.ZOHO_CRM: frozenset({"client_id", "client_secret", "refresh_token", "accounts_url", "api_domain"}),
    ProviderKind.ZOHO_VOICE: frozenset({"client_id", "client_secret", "refresh_token", "accounts_url", "api_base_url"}),
    ProviderKind.SALESFORCE: frozenset({"client_id", "client_secret", "refresh_token", "accounts_url", "api_domain"}),
    ProviderKind.HUBSPOT: frozenset({"client_id", "client_secret", "refresh_token", "accounts_url", "api_domain"}),
    # Client credentials per customer tenant: no refresh token to keep.
    ProviderKind.DYNAMICS: frozenset({"client_id", "client_secret", "accounts_url", "api_domain"}),
}
# The secrets without which an account of the kind cannot call its vendor.
CREDENTIALS_NEEDED: dict[str, tuple[str, ...]] = {
    ProviderKind.TWILIO: ("auth_token",),
    ProviderKind.ZOHO_CRM: ("client_secret", "refresh_token"),
    ProviderKind.ZOHO_VOICE: ("client_secret", "refresh_token"),
    ProviderKind.SALESFORCE: ("client_secret", "refresh_token"),
    ProviderKind.HUBSPOT: ("client_secret", "refresh_token"),
    # The app's secret is the server's unless the account has its own; consent is the connection's state.
    ProviderKind.DYNAMICS: (),
}
SECRET_FIELDS = ("auth_token", "client_secret", "refresh_token")
URL_FIELDS = ("api_base_url", "accounts_url", "api_domain")
ALL_CREDENTIAL_FIELDS = frozenset().union(*KIND_FIELDS.values())

twilio_sid_validator = RegexValidator(
    r"^AC[0-9A-Za-z]{1,32}$", "A Twilio Account SID is AC followed by up to 32 letters or digits."
)


# How each CRM kind writes a user id (registered by crm.registry for every CRM provider, since studios sits below the
# CRM layer): members' ids are stored in that form whoever typed them.
CRM_USER_ID_CLEANERS: dict[str, Callable[[str], str]] = {}


def crm_user_id_cleaner_register(kind: str, clean: Callable[[str], str]) -> None:
    CRM_USER_ID_CLEANERS[kind] = clean


def crm_user_id_clean(kind: str, value: str) -> str:
    """`value` in the form the CRM of connection kind `kind` gives its user ids (as typed, stripped, for a kind no
    provider registered); ValueError saying why it is no user id of that CRM."""
    clean = CRM_USER_ID_CLEANERS.get(kind)
    return clean(value) if clean is not None else (value or "").strip()
