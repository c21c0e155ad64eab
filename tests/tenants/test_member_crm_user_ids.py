"""Members' CRM user ids in the tenants file: `crm_user_ids: {account name: id}`, and the first form,
`zoho_user_id`, which files written before still carry (the member's user on the organization's default Zoho CRM
account)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from studios.models import Membership
from studios.selectors import crm_user_id_of
from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tests.tenants.test_tenants_file import ENV, ISSUE_EXAMPLE_YAML, account, assert_all_unchanged, assert_refused

pytestmark = pytest.mark.django_db

ANA = "ana@acme.test"
SECOND_CRM = {
    "name": "acme-zoho-eu",
    "kind": "zoho_crm",
    "client_id": "1000.EU",
    "accounts_url": "https://accounts.zoho.eu",
    "api_domain": "https://www.zohoapis.eu",
}


def document(**member: Any) -> dict[str, Any]:
    """The issue's example (its member says `zoho_user_id`), with the member's fields replaced by `member`."""
    raw = yaml.safe_load(ISSUE_EXAMPLE_YAML)
    entry = raw["organizations"][0]["members"][0]
    entry.pop("zoho_user_id")
    entry.update(member)
    return raw


def with_second_crm(raw: dict[str, Any]) -> dict[str, Any]:
    raw["organizations"][0]["accounts"].append(dict(SECOND_CRM))
    return raw


def ids_of(email: str) -> dict[str, str]:
    membership = Membership.objects.unscoped().get(user__email=email)
    return {link.connection.name: link.crm_user_id for link in membership.crm_users.select_related("connection")}


def test_crm_user_ids_name_the_connection_by_its_account_name():
    raw = with_second_crm(document(crm_user_ids={"acme-zoho": "111", "acme-zoho-eu": "222"}))

    tenants_apply(raw=raw, environ=ENV)

    assert ids_of(ANA) == {"acme-zoho": "111", "acme-zoho-eu": "222"}
    membership = Membership.objects.unscoped().get(user__email=ANA)
    assert crm_user_id_of(membership=membership, connection=account("acme-zoho-eu")) == "222"


def test_the_first_form_means_the_default_zoho_crm_account_and_may_stand_beside_the_new_one():
    raw = with_second_crm(document(zoho_user_id="111", crm_user_ids={"acme-zoho-eu": "222"}))
    raw["organizations"][0]["accounts"][1]["default"] = True  # acme-zoho

    tenants_apply(raw=raw, environ=ENV)

    assert ids_of(ANA) == {"acme-zoho": "111", "acme-zoho-eu": "222"}


def test_the_export_writes_the_new_form_and_applies_back_unchanged():
    tenants_apply(raw=yaml.safe_load(ISSUE_EXAMPLE_YAML), environ=ENV)

    exported = tenants_export()

    member = exported["organizations"][0]["members"][0]
    assert member["crm_user_ids"] == {"acme-zoho": "4150868000000225013"}
    assert "zoho_user_id" not in member
    assert_all_unchanged(tenants_apply(raw=exported, environ={}))
    # And the old file, applied again after the export's form, changes nothing either.
    assert_all_unchanged(tenants_apply(raw=yaml.safe_load(ISSUE_EXAMPLE_YAML), environ=ENV))


def test_what_the_entry_lists_is_what_the_member_has():
    tenants_apply(raw=with_second_crm(document(crm_user_ids={"acme-zoho": "111", "acme-zoho-eu": "222"})), environ=ENV)

    report = tenants_apply(raw=with_second_crm(document(crm_user_ids={"acme-zoho-eu": "333"})), environ=ENV)

    assert report.updated["members"] == 1
    assert ids_of(ANA) == {"acme-zoho-eu": "333"}


def test_unquoted_ids_are_taken_as_written():
    raw = yaml.safe_load(
        ISSUE_EXAMPLE_YAML.replace(
            'zoho_user_id: "4150868000000225013"', "crm_user_ids: {acme-zoho: 4150868000000225013}"
        )
    )

    tenants_apply(raw=raw, environ=ENV)

    assert ids_of(ANA) == {"acme-zoho": "4150868000000225013"}


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ({"crm_user_ids": {"acme-zohoo": "111"}}, "crm_user_ids: no account 'acme-zohoo' in acme"),
        ({"crm_user_ids": {"acme-twilio": "111"}}, "crm_user_ids: acme-twilio is a Twilio account, not a CRM"),
        ({"crm_user_ids": {"acme-zoho": "not an id!"}}, "crm_user_ids: A CRM user id is up to 64 letters"),
        (
            {"zoho_user_id": "111", "crm_user_ids": {"acme-zoho": "222"}},
            "zoho_user_id: says 111, crm_user_ids says 222 for acme-zoho",
        ),
    ],
    ids=["unknown-account", "not-a-crm", "malformed", "two-ids-for-one-connection"],
)
def test_a_wrong_crm_user_id_is_named_with_its_entry_and_nothing_is_applied(member, expected):
    assert_refused(document(**member), f"organizations[0] (acme) > members[0] ({ANA}) > {expected}", environ=ENV)


def test_the_first_form_without_a_zoho_crm_account_says_what_to_do():
    raw = document(zoho_user_id="111")
    raw["organizations"][0]["accounts"].pop(1)  # acme-zoho

    errors = assert_refused(raw, f"members[0] ({ANA}) > zoho_user_id: names the member's Zoho CRM user", environ=ENV)

    assert any("give crm_user_ids by account name" in error for error in errors)


def test_one_crm_user_is_one_person():
    raw = document(crm_user_ids={"acme-zoho": "111"})
    raw["organizations"][0]["members"].append(
        {"email": "ben@acme.test", "role": "staff", "studios": ["downtown"], "crm_user_ids": {"acme-zoho": "111"}}
    )

    assert_refused(
        raw,
        "members[1] (ben@acme.test) > crm_user_ids: CRM user 111 on acme-zoho is already ana@acme.test",
        environ=ENV,
    )
