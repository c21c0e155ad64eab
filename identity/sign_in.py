"""Sign-in through a CRM (Capability.SIGN_IN): the CRM says who is at the keyboard and in which CRM org; the browser
never does. Whatever the CRM, the same rules find the member:

1. the provider's `sign_in_url` sends the person to the CRM's consent page (its narrowest identifying scopes, no
   lasting grant) with the one OAuth state of crm/oauth_state.py, marked a sign-in and bound to this browser;
2. its `sign_in_finish` checks the state (single use), exchanges the code at a server it trusts, asks the CRM who
   this is and in which org, and keeps no token;
3. here: its `connection_for_identity` names the connection holding that CRM org (of exactly one active
   organization), and the member is whoever is that CRM user on that connection (studios.MemberCrmUser). Nothing
   else (e-mail, names, anything the widget says) is used to match.
No vendor call happens inside a database transaction: the callback view is non-atomic.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.errors import CrmAuthError
from crm.provider import CrmProvider
from crm.records import Capability, Identity
from crm.registry import UnknownCrm, provider_class, registered
from studios.models import MemberCrmUser, Membership, Organization, ProviderAccount
from studios.selectors import membership_for_crm_user


@dataclass(frozen=True)
class SignInMatch:
    """Who signed in, and where: a member, or (membership None) a person nobody added yet."""

    identity: Identity
    crm_label: str
    organization: Organization
    connection: ProviderAccount
    membership: Membership | None
    inactive: bool = False  # a membership exists but is switched off


def sign_in_provider(kind: str) -> type[CrmProvider] | None:
    """The provider class of a CRM kind if it can sign people in."""
    try:
        provider = provider_class(kind)
    except UnknownCrm:
        return None
    return provider if Capability.SIGN_IN in provider.capabilities and provider.kind == kind else None


def sign_in_providers() -> list[type[CrmProvider]]:
    """Every registered CRM that can sign people in."""
    return [provider for kind in registered() if (provider := sign_in_provider(kind)) is not None]


def sign_in_match(*, provider: type[CrmProvider], identity: Identity) -> SignInMatch:
    """The organization whose connection holds the CRM org, and the member who is that CRM user on it (if any).
    CrmAuthError ("org_not_connected", "crm_user_inactive") when nobody may be signed in."""
    connection = provider.connection_for_identity(identity=identity)
    if connection is None:
        raise CrmAuthError(
            f"The {provider.label} org {identity.org_name or identity.org_id} is not connected to Leadline.",
            provider=provider.kind,
            code="org_not_connected",
            details={"crm_org_id": identity.org_id, "crm_org_name": identity.org_name, "email": identity.user_email},
        )
    if not identity.user_active:
        inactive = f"Your {provider.label} user is not active."
        raise CrmAuthError(inactive, provider=provider.kind, code="crm_user_inactive")
    organization = connection.organization
    found = {"identity": identity, "crm_label": provider.label, "organization": organization, "connection": connection}
    membership = membership_for_crm_user(connection=connection, crm_user_id=identity.user_id)
    if membership is not None and membership.user.is_active:
        return SignInMatch(**found, membership=membership)
    switched_off = membership is not None or (
        MemberCrmUser.objects.for_organization(organization)
        .filter(connection=connection, crm_user_id=identity.user_id)
        .exists()
    )
    return SignInMatch(**found, membership=None, inactive=switched_off)
