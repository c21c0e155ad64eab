"""studios 0003 on a database holding 0002's data: every member's Zoho user id becomes a MemberCrmUser on the
organization's Zoho CRM account, and back."""

from __future__ import annotations

import pytest

from tests.migrations import migrations  # noqa: F401  (the fixture)

BEFORE = ("studios", "0002_provider_account_custom_endpoints")
AFTER = ("studios", "0003_member_crm_users")
ZOHO_URLS = {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"}


def _member(apps, organization, email, zoho_user_id=""):
    user = apps.get_model("core", "User")._default_manager.create(email=email)
    return apps.get_model("studios", "Membership")._default_manager.create(
        user=user, organization=organization, role="staff", zoho_user_id=zoho_user_id
    )


@pytest.mark.django_db(transaction=True)
def test_every_zoho_user_id_is_kept_on_the_right_connection(migrations):  # noqa: F811
    old = migrations.to(BEFORE)
    Organization = old.get_model("studios", "Organization")
    ProviderAccount = old.get_model("studios", "ProviderAccount")
    with_default = Organization._default_manager.create(slug="with-default", name="With default")
    ProviderAccount._default_manager.create(organization=with_default, name="other", kind="zoho_crm", **ZOHO_URLS)
    default = ProviderAccount._default_manager.create(
        organization=with_default, name="main", kind="zoho_crm", is_default=True, **ZOHO_URLS
    )
    ProviderAccount._default_manager.create(organization=with_default, name="sms", kind="twilio", is_default=True)
    without_account = Organization._default_manager.create(slug="no-account", name="No account")
    ProviderAccount._default_manager.create(organization=without_account, name="zoho-crm", kind="twilio")
    untouched = Organization._default_manager.create(slug="untouched", name="Untouched")
    a = _member(old, with_default, "a@example.com", "4150868000000225001")
    b = _member(old, with_default, "b@example.com")
    c = _member(old, without_account, "c@example.com", "4150868000000225001")
    _member(old, untouched, "d@example.com")

    new = migrations.to(AFTER)
    links = new.get_model("studios", "MemberCrmUser")._default_manager
    assert {
        (link.membership_id, link.connection_id, link.crm_user_id)
        for link in links.filter(organization=with_default.pk)
    } == {(a.pk, default.pk, "4150868000000225001")}
    created = new.get_model("studios", "ProviderAccount")._default_manager.get(
        organization=without_account.pk, kind="zoho_crm"
    )
    assert (created.name, created.is_default, created.client_id) == ("zoho-crm-2", True, "")
    assert [(link.membership_id, link.crm_user_id) for link in links.filter(connection=created.pk)] == [
        (c.pk, "4150868000000225001")
    ]
    assert not new.get_model("studios", "ProviderAccount")._default_manager.filter(organization=untouched.pk).exists()
    assert not links.filter(membership=b.pk).exists()

    back = migrations.to(BEFORE)
    ids = dict(back.get_model("studios", "Membership")._default_manager.values_list("user__email", "zoho_user_id"))
    assert ids == {
        "a@example.com": "4150868000000225001",
        "b@example.com": "",
        "c@example.com": "4150868000000225001",
        "d@example.com": "",
    }
