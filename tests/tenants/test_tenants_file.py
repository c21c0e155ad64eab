"""`manage.py tenants apply|export`, the tenants file service behind it, and `manage.py demo`."""

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from studios.models import MemberCrmUser, Membership, Organization, PhoneNumber, ProviderAccount, Studio, StudioAccount
from studios.selectors import crm_user_id_of
from tenants.apply import tenants_apply
from tenants.demo import DEMO_PASSWORDS, OPERATOR_EMAIL, demo_document
from tenants.export import tenants_export
from tenants.schema import TenantsFileError, describe_location

User = get_user_model()
pytestmark = pytest.mark.django_db

# What error messages put between an entry and its field, taken from the code that writes them.
LOCATION_SEPARATOR = describe_location({}, ("entry", "field"))[len("entry") : -len("field")]
SECTIONS = ("organizations", "accounts", "studios", "numbers", "members")

# The example from the issue, verbatim.
ISSUE_EXAMPLE_YAML = """\
organizations:
  - slug: acme
    name: Acme Fitness
    accounts:                       # kind: twilio | zoho_crm | zoho_voice
      - {name: acme-twilio, kind: twilio, account_sid: AC123, auth_token: "env:ACME_TWILIO_TOKEN",
         api_base_url: "https://api.twilio.com"}          # base URLs optional, vendor default
      - {name: acme-zoho, kind: zoho_crm, client_id: "1000.X", client_secret: "env:ZC_SECRET",
         refresh_token: "env:ZC_REFRESH", accounts_url: "https://accounts.zoho.eu",
         api_domain: "https://www.zohoapis.eu"}
    studios:
      - {slug: downtown, name: Downtown, time_zone: America/New_York, accounts: [acme-twilio]}
    numbers:                        # no studio = shared by the organization's studios
      - {number: "+14155550100", provider: twilio, account: acme-twilio, studio: downtown}
    members:
      - {email: ana@acme.test, role: staff, studios: [downtown], zoho_user_id: "4150868000000225013"}
"""
ENV = {
    "ACME_TWILIO_TOKEN": "plain-twilio-token-0001",
    "ZC_SECRET": "plain-zoho-client-secret-0002",
    "ZC_REFRESH": "plain-zoho-refresh-token-0003",
}
MEMBER_PASSWORD = "plain-member-password-0004"
FULL_ENV = {**ENV, "ACME_VOICE_SECRET": "plain-voice-secret-0005", "ANA_PASSWORD": MEMBER_PASSWORD}
SECRET_VALUES = (*FULL_ENV.values(), "plain-literal-voice-refresh-0006", "plain-literal-manager-password-0007")


def issue_example() -> dict[str, Any]:
    return yaml.safe_load(ISSUE_EXAMPLE_YAML)


def full_document() -> dict[str, Any]:
    """Every optional field the format supports, in two organizations."""
    return {
        "organizations": [
            {
                "slug": "acme",
                "name": "Acme Fitness",
                "accounts": [
                    {
                        "name": "acme-twilio",
                        "kind": "twilio",
                        "default": True,
                        "account_sid": "AC123",
                        "auth_token": "env:ACME_TWILIO_TOKEN",
                    },
                    {"name": "acme-twilio-east", "kind": "twilio", "account_sid": "AC456"},
                    {
                        "name": "acme-zoho",
                        "kind": "zoho_crm",
                        "default": True,
                        "client_id": "1000.X",
                        "client_secret": "env:ZC_SECRET",
                        "refresh_token": "env:ZC_REFRESH",
                        "accounts_url": "https://accounts.zoho.eu/",
                        "api_domain": "https://www.zohoapis.eu",
                    },
                    {
                        "name": "acme-voice",
                        "kind": "zoho_voice",
                        "client_id": "1000.V",
                        "client_secret": "env:ACME_VOICE_SECRET",
                        "refresh_token": "plain-literal-voice-refresh-0006",
                    },
                ],
                "studios": [
                    {
                        "slug": "downtown",
                        "name": "Downtown",
                        "time_zone": "America/New_York",
                        "welcome_message": "Hi {first_name}, welcome to {studio_name}!",
                        "help_message": "{studio_name}: reply STOP to stop.",
                    },
                    {
                        "slug": "east",
                        "name": "East Side",
                        "time_zone": "America/Chicago",
                        "accounts": ["acme-twilio-east"],
                    },
                    {"slug": "harbor", "name": "Harbor", "time_zone": "America/Los_Angeles", "is_active": False},
                ],
                "numbers": [
                    {"number": "+14155550100", "provider": "twilio", "label": "Main line"},
                    {"number": "+14155550101", "provider": "twilio", "studio": "downtown"},
                    {"number": "+14155550102", "provider": "twilio", "studio": "east"},
                    {"number": "+14155550103", "provider": "twilio", "studios": ["downtown", "east"]},
                    {"number": "+14155550104", "provider": "zoho_voice", "studio": "harbor", "is_active": False},
                ],
                "members": [
                    {
                        "email": "boss@acme.test",
                        "role": "manager",
                        "name": "Bo Boss",
                        "password": "plain-literal-manager-password-0007",
                    },
                    {
                        "email": "ana@acme.test",
                        "role": "staff",
                        "name": "Ana Alvarez",
                        "studios": ["downtown"],
                        "crm_user_ids": {"acme-zoho": "4150868000000225013"},
                        "password": "env:ANA_PASSWORD",
                    },
                    {"email": "ben@acme.test", "role": "staff", "studios": ["east", "harbor"]},
                    {"email": "cy@acme.test", "role": "staff", "studios": ["harbor"], "is_active": False},
                ],
            },
            {
                "slug": "bolt",
                "name": "Bolt Gyms",
                "accounts": [{"name": "bolt-twilio", "kind": "twilio", "account_sid": "AC789"}],
                "studios": [{"slug": "downtown", "name": "Bolt Downtown"}],
                "numbers": [{"number": "+14155550200", "provider": "twilio", "studio": "downtown"}],
                "members": [{"email": "dee@bolt.test", "role": "staff", "studios": ["downtown"]}],
            },
        ]
    }


# --- helpers -----------------------------------------------------------------------------------------------------
def write_yaml(tmp_path: Path, document: dict[str, Any], name: str = "tenants.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def totals(report, outcome: str) -> int:
    return sum(getattr(report, outcome).values())


def assert_all_unchanged(report) -> None:
    assert not report.changed
    assert totals(report, "created") == 0
    assert totals(report, "updated") == 0


def db_state() -> dict[str, Any]:
    """Everything the tenants file can touch: rows, links and modification times."""
    timestamped = (Organization, ProviderAccount, Studio, PhoneNumber, Membership)
    state: dict[str, Any] = {
        model.__name__: sorted(model.objects.unscoped().values_list("pk", "updated_at")) for model in timestamped
    }
    state["StudioAccount"] = sorted(StudioAccount.objects.unscoped().values_list("studio_id", "account_id"))
    state["shared_with"] = sorted(PhoneNumber.shared_with.through.objects.values_list("phonenumber_id", "studio_id"))
    state["membership_studios"] = sorted(Membership.studios.through.objects.values_list("membership_id", "studio_id"))
    state["member_crm_users"] = sorted(
        MemberCrmUser.objects.unscoped().values_list("membership_id", "connection_id", "crm_user_id")
    )
    state["users"] = sorted(User.objects.values_list("pk", "email", "full_name", "password", "is_active"))
    state["secrets"] = sorted(
        (a.pk, str(a.auth_token and a.auth_token.reveal()), str(a.client_secret and a.client_secret.reveal()))
        for a in ProviderAccount.objects.unscoped()
    )
    return state


def at(text: str) -> str:
    """Error locations are written here as 'entry > field'; the messages use LOCATION_SEPARATOR."""
    return text.replace(" > ", LOCATION_SEPARATOR)


def assert_refused(document: dict[str, Any], expected: str, *, environ: dict[str, str] | None = None) -> list[str]:
    """Applying `document` fails with an error containing `expected` (see `at`), and changes nothing."""
    expected = at(expected)
    before = db_state()
    with pytest.raises(TenantsFileError) as caught:
        tenants_apply(raw=document, environ=FULL_ENV if environ is None else environ)
    errors = caught.value.errors
    assert any(expected in error for error in errors), errors
    assert db_state() == before
    return errors


def assert_empty_database() -> None:
    assert not Organization.objects.unscoped().exists()
    assert not ProviderAccount.objects.unscoped().exists()
    assert not Studio.objects.unscoped().exists()
    assert not PhoneNumber.objects.unscoped().exists()
    assert not Membership.objects.unscoped().exists()
    assert not User.objects.exists()


def wipe_tenancy() -> None:
    PhoneNumber.objects.unscoped().delete()
    Membership.objects.unscoped().delete()
    User.objects.all().delete()
    StudioAccount.objects.unscoped().delete()
    Studio.objects.unscoped().delete()
    ProviderAccount.objects.unscoped().delete()
    Organization.objects.unscoped().delete()


def stored_column(column: str, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM studios_provideraccount WHERE name = %s", [name])  # noqa: S608
        return cursor.fetchone()[0]


def account(name: str) -> ProviderAccount:
    return ProviderAccount.objects.unscoped().get(name=name)


def acme() -> Organization:
    return Organization.objects.unscoped().get(slug="acme")


# --- 1. the issue's example -----------------------------------------------------------------------------------
def test_the_issue_example_file_applies_from_the_command_line(tmp_path, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "tenants.yaml"
    path.write_text(ISSUE_EXAMPLE_YAML, encoding="utf-8")

    out = run("tenants", "apply", str(path))

    assert "organizations: 1 created, 0 updated, 0 unchanged" in out
    assert "accounts: 2 created, 0 updated, 0 unchanged" in out
    assert "studios: 1 created" in out
    assert "numbers: 1 created" in out
    assert "members: 1 created" in out
    assert "Applied." in out
    org = acme()
    assert org.name == "Acme Fitness"
    studio = Studio.objects.for_organization(org).get()
    assert (studio.slug, studio.name, studio.time_zone) == ("downtown", "Downtown", "America/New_York")
    assert list(studio.accounts.values_list("name", flat=True)) == ["acme-twilio"]
    number = PhoneNumber.objects.for_organization(org).get()
    assert (number.number, number.provider, number.account.name, number.studio) == (
        "+14155550100",
        "twilio",
        "acme-twilio",
        studio,
    )
    membership = Membership.objects.for_organization(org).select_related("user").get()
    assert membership.user.email == "ana@acme.test"
    assert membership.role == "staff"
    # The file's first form of a CRM user id: the member's user on the organization's default Zoho CRM account.
    assert crm_user_id_of(membership=membership, connection=account("acme-zoho")) == "4150868000000225013"
    assert list(membership.studios.all()) == [studio]
    assert not membership.user.has_usable_password()  # no password in the file: signing in through the CRM


def test_the_issue_example_stores_secrets_encrypted_and_urls_as_given():
    tenants_apply(raw=issue_example(), environ=ENV)

    twilio, zoho = account("acme-twilio"), account("acme-zoho")
    assert twilio.auth_token.reveal() == ENV["ACME_TWILIO_TOKEN"]
    assert zoho.client_secret.reveal() == ENV["ZC_SECRET"]
    assert zoho.refresh_token.reveal() == ENV["ZC_REFRESH"]
    for column, name, plaintext in (
        ("auth_token", "acme-twilio", ENV["ACME_TWILIO_TOKEN"]),
        ("client_secret", "acme-zoho", ENV["ZC_SECRET"]),
        ("refresh_token", "acme-zoho", ENV["ZC_REFRESH"]),
    ):
        stored = stored_column(column, name)
        assert plaintext not in stored
        assert stored.startswith("gAAAAA")  # a Fernet token
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM studios_provideraccount")
        raw_tokens = " ".join(row[0] for row in cursor.fetchall())
    assert ENV["ACME_TWILIO_TOKEN"] not in raw_tokens
    assert twilio.account_sid == "AC123"
    assert twilio.api_base_url == "https://api.twilio.com"
    assert (zoho.client_id, zoho.accounts_url, zoho.api_domain) == (
        "1000.X",
        "https://accounts.zoho.eu",
        "https://www.zohoapis.eu",
    )


def test_omitted_urls_are_filled_in_with_the_vendor_defaults():
    document = issue_example()
    for entry in document["organizations"][0]["accounts"]:
        for name in ("api_base_url", "accounts_url", "api_domain"):
            entry.pop(name, None)
    document["organizations"][0]["accounts"].append({"name": "acme-voice", "kind": "zoho_voice", "client_id": "1000.V"})

    tenants_apply(raw=document, environ=ENV)

    assert account("acme-twilio").api_base_url == "https://api.twilio.com"
    zoho = account("acme-zoho")
    assert (zoho.accounts_url, zoho.api_domain) == ("https://accounts.zoho.com", "https://www.zohoapis.com")
    voice = account("acme-voice")
    assert (voice.accounts_url, voice.api_base_url) == ("https://accounts.zoho.com", "https://voice.zoho.com")


def test_a_file_that_omits_urls_is_unchanged_when_applied_again():
    document = issue_example()
    for entry in document["organizations"][0]["accounts"]:
        for name in ("api_base_url", "accounts_url", "api_domain"):
            entry.pop(name, None)
    tenants_apply(raw=document, environ=ENV)
    before = db_state()

    report = tenants_apply(raw=document, environ=ENV)

    assert report.unchanged["accounts"] == 2
    assert_all_unchanged(report)
    assert db_state() == before


def test_trailing_slashes_are_dropped_from_urls():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    assert account("acme-zoho").accounts_url == "https://accounts.zoho.eu"


def test_member_passwords_come_from_literals_or_the_environment():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    assert User.objects.get(email="ana@acme.test").check_password(MEMBER_PASSWORD)
    assert User.objects.get(email="boss@acme.test").check_password("plain-literal-manager-password-0007")
    assert not User.objects.get(email="ben@acme.test").has_usable_password()


def test_every_optional_field_is_stored():
    report = tenants_apply(raw=full_document(), environ=FULL_ENV)

    assert report.created == {"organizations": 2, "accounts": 5, "studios": 4, "numbers": 6, "members": 5}
    org = acme()
    assert account("acme-twilio").is_default
    assert not account("acme-twilio-east").is_default
    downtown = Studio.objects.for_organization(org).get(slug="downtown")
    assert downtown.welcome_message == "Hi {first_name}, welcome to {studio_name}!"
    assert downtown.help_message == "{studio_name}: reply STOP to stop."
    assert not Studio.objects.for_organization(org).get(slug="harbor").is_active
    numbers = {n.number: n for n in PhoneNumber.objects.for_organization(org).select_related("account", "studio")}
    main = numbers["+14155550100"]
    assert (main.studio, main.label, main.account.name) == (None, "Main line", "acme-twilio")
    assert list(main.shared_with.all()) == []
    assert numbers["+14155550102"].account.name == "acme-twilio-east"  # the studio's own account
    assert sorted(s.slug for s in numbers["+14155550103"].shared_with.all()) == ["downtown", "east"]
    assert numbers["+14155550104"].account.name == "acme-voice"  # the only Zoho Voice account
    assert not numbers["+14155550104"].is_active
    memberships = {m.user.email: m for m in Membership.objects.for_organization(org).select_related("user")}
    assert memberships["boss@acme.test"].role == "manager"
    assert list(memberships["boss@acme.test"].studios.all()) == []
    assert memberships["ana@acme.test"].user.full_name == "Ana Alvarez"
    ana_zoho = crm_user_id_of(membership=memberships["ana@acme.test"], connection=account("acme-zoho"))
    assert ana_zoho == "4150868000000225013"
    assert sorted(s.slug for s in memberships["ben@acme.test"].studios.all()) == ["east", "harbor"]
    assert not memberships["cy@acme.test"].is_active


# --- 2. idempotence -------------------------------------------------------------------------------------------
def test_applying_the_same_document_twice_changes_nothing_the_second_time():
    first = tenants_apply(raw=full_document(), environ=FULL_ENV)
    assert first.changed
    before = db_state()

    second = tenants_apply(raw=full_document(), environ=FULL_ENV)

    assert_all_unchanged(second)
    assert second.unchanged == first.created
    assert db_state() == before


def test_applying_the_same_yaml_file_twice_reports_already_up_to_date(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    path = write_yaml(tmp_path, full_document())
    run("tenants", "apply", str(path))
    before = db_state()

    out = run("tenants", "apply", str(path))

    assert "Already up to date." in out
    for section in SECTIONS:
        assert f"{section}: 0 created, 0 updated," in out
    assert db_state() == before


def test_a_json_file_applies_like_the_yaml_one(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(full_document()), encoding="utf-8")

    out = run("tenants", "apply", str(path))
    assert "Applied." in out
    from_json = tenants_export()
    assert "Already up to date." in run("tenants", "apply", str(write_yaml(tmp_path, full_document())))
    assert tenants_export() == from_json


# --- 3. export and round trips ----------------------------------------------------------------------------------
def test_applying_an_export_changes_nothing():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    before = db_state()

    report = tenants_apply(raw=tenants_export(), environ={})

    assert_all_unchanged(report)
    assert db_state() == before


def test_an_export_applied_to_an_empty_database_exports_identically():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    exported = tenants_export()
    wipe_tenancy()
    assert_empty_database()

    tenants_apply(raw=exported, environ={})

    assert tenants_export() == exported


def test_the_export_describes_the_file_that_was_applied():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    exported = tenants_export()

    assert [o["slug"] for o in exported["organizations"]] == ["acme", "bolt"]
    acme_entry = exported["organizations"][0]
    assert {a["name"]: a.get("default", False) for a in acme_entry["accounts"]} == {
        "acme-twilio": True,
        "acme-twilio-east": False,
        "acme-zoho": True,
        "acme-voice": False,
    }
    studios = {s["slug"]: s for s in acme_entry["studios"]}
    assert studios["east"]["accounts"] == ["acme-twilio-east"]
    assert studios["harbor"]["is_active"] is False
    numbers = {n["number"]: n for n in acme_entry["numbers"]}
    assert numbers["+14155550103"]["studios"] == ["downtown", "east"]
    assert "studio" not in numbers["+14155550100"]
    members = {m["email"]: m for m in acme_entry["members"]}
    assert "studios" not in members["boss@acme.test"]
    assert members["cy@acme.test"]["is_active"] is False
    assert members["ana@acme.test"]["crm_user_ids"] == {"acme-zoho": "4150868000000225013"}
    assert all("password" not in m and "zoho_user_id" not in m for m in acme_entry["members"])


def test_the_export_never_contains_a_secret(tmp_path):
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    text = run("tenants", "export")
    json_text = run("tenants", "export", "--format", "json")

    assert text.startswith("# Leadline tenants file.")
    for secret in SECRET_VALUES:
        assert secret not in text
        assert secret not in json_text
    body = text.split("\n", 1)[1]  # the header line explains env:NAME references
    for name in ("auth_token", "client_secret", "refresh_token", "password", "env:"):
        assert name not in body
    assert yaml.safe_load(text) == tenants_export() == json.loads(json_text)


def test_applying_an_export_keeps_the_stored_secrets_and_passwords(tmp_path):
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    path = tmp_path / "export.yaml"
    path.write_text(run("tenants", "export"), encoding="utf-8")

    run("tenants", "apply", str(path))

    assert account("acme-twilio").auth_token.reveal() == ENV["ACME_TWILIO_TOKEN"]
    assert account("acme-zoho").client_secret.reveal() == ENV["ZC_SECRET"]
    assert account("acme-zoho").refresh_token.reveal() == ENV["ZC_REFRESH"]
    assert account("acme-voice").refresh_token.reveal() == "plain-literal-voice-refresh-0006"
    assert User.objects.get(email="ana@acme.test").check_password(MEMBER_PASSWORD)


# --- 4. bad input: a clear error naming the entry and field, and nothing applied ---------------------------------
def test_an_unknown_field_is_named_and_nothing_is_applied():
    document = full_document()
    document["organizations"][0]["studios"][1]["tme_zone"] = "America/Chicago"

    assert_refused(document, "organizations[0] (acme) > studios[1] (east) > tme_zone: unknown field")
    assert_empty_database()


def test_an_invalid_phone_number_is_named_and_nothing_is_applied():
    document = full_document()
    document["organizations"][0]["numbers"][2]["number"] = "+1415555"

    errors = assert_refused(document, "organizations[0] (acme) > numbers[2] (+1415555) > number: ")
    assert "not a valid phone number" in errors[0] or "not a phone number" in errors[0]
    assert_empty_database()


def test_a_number_without_a_plus_is_refused_with_the_e164_hint():
    document = full_document()
    document["organizations"][0]["numbers"][1]["number"] = "4155550101"

    assert_refused(document, "organizations[0] (acme) > numbers[1] (4155550101) > number: '4155550101' is not in E.164")
    assert_empty_database()


def test_an_unknown_time_zone_is_named_and_nothing_is_applied():
    document = full_document()
    document["organizations"][0]["studios"][2]["time_zone"] = "Mars/Olympus_Mons"

    assert_refused(
        document,
        "organizations[0] (acme) > studios[2] (harbor) > time_zone: 'Mars/Olympus_Mons' is not an IANA time zone",
    )
    assert_empty_database()


def test_a_reference_to_a_missing_studio_is_named_and_nothing_is_applied():
    document = full_document()
    document["organizations"][0]["numbers"][1]["studio"] = "uptown"
    document["organizations"][0]["members"][2]["studios"] = ["east", "nowhere"]

    errors = assert_refused(
        document, "organizations[0] (acme) > numbers[1] (+14155550101) > studio: no studio 'uptown' in acme"
    )
    assert at("organizations[0] (acme) > members[2] (ben@acme.test) > studios: no studio 'nowhere' in acme") in errors
    assert_empty_database()


def test_a_reference_to_a_missing_account_is_named_and_nothing_is_applied():
    document = full_document()
    document["organizations"][0]["studios"][1]["accounts"] = ["acme-twillio"]
    document["organizations"][0]["numbers"][0]["account"] = "nope"

    errors = assert_refused(
        document, "organizations[0] (acme) > studios[1] (east) > accounts: no account 'acme-twillio' in acme"
    )
    assert at("organizations[0] (acme) > numbers[0] (+14155550100) > account: no account 'nope' in acme") in errors
    assert_empty_database()


def test_a_twilio_number_on_a_zoho_account_is_refused():
    document = full_document()
    document["organizations"][0]["numbers"][1]["account"] = "acme-zoho"

    assert_refused(
        document,
        "organizations[0] (acme) > numbers[1] (+14155550101) > account: A Twilio number needs a Twilio account, "
        "not Zoho CRM.",
    )
    assert_empty_database()


def test_a_staff_member_without_studios_is_refused():
    document = full_document()
    document["organizations"][0]["members"][2]["studios"] = []

    assert_refused(
        document, "organizations[0] (acme) > members[2] (ben@acme.test) > studios: A staff member works in at least"
    )
    assert_empty_database()


def test_a_duplicate_slug_in_the_file_is_refused():
    document = full_document()
    document["organizations"][0]["studios"].append({"slug": "east", "name": "East Again"})

    assert_refused(
        document, "organizations[0] (acme) > studios[3] (east): studio 'east' appears twice (first at index 1)"
    )
    assert_empty_database()


def test_a_duplicate_organization_slug_is_refused():
    document = full_document()
    document["organizations"][1]["slug"] = "acme"

    assert_refused(document, "organizations[1] (acme): organization 'acme' appears twice (first at index 0)")
    assert_empty_database()


def test_an_unset_environment_variable_is_named_and_nothing_is_applied():
    environ = {k: v for k, v in FULL_ENV.items() if k != "ZC_REFRESH"}

    assert_refused(
        full_document(),
        "organizations[0] (acme) > accounts[2] (acme-zoho) > refresh_token: environment variable ZC_REFRESH is not set",
        environ=environ,
    )
    assert_empty_database()


def test_an_empty_environment_variable_counts_as_unset():
    assert_refused(
        full_document(),
        "organizations[0] (acme) > members[1] (ana@acme.test) > password: environment variable ANA_PASSWORD is not set",
        environ={**FULL_ENV, "ANA_PASSWORD": ""},
    )
    assert_empty_database()


def test_invalid_yaml_is_refused_by_the_command(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("organizations:\n  - slug: acme\n    name: [unclosed\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"1 problem; nothing was applied:\n  - .*tenants\.yaml: not valid YAML"):
        run("tenants", "apply", str(path))
    assert_empty_database()


def test_invalid_json_is_refused_by_the_command(tmp_path):
    path = tmp_path / "tenants.json"
    path.write_text('{"organizations": [', encoding="utf-8")

    with pytest.raises(CommandError, match=r"tenants\.json: not valid JSON"):
        run("tenants", "apply", str(path))
    assert_empty_database()


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("- slug: acme\n  name: Acme\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"expected a mapping with an 'organizations' list at the top"):
        run("tenants", "apply", str(path))
    assert_empty_database()


def test_a_document_without_organizations_is_refused():
    assert_refused({"organisations": []}, "organisations: unknown field")
    assert_refused({"organizations": []}, "organizations: List should have at least 1 item")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"nothing was applied:\n  - .*missing\.yaml: cannot read the file"):
        run("tenants", "apply", str(tmp_path / "missing.yaml"))


def test_a_number_registered_to_another_organization_is_refused():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = issue_example()
    document["organizations"][0]["slug"] = "cobra"
    document["organizations"][0]["numbers"][0]["number"] = "+14155550200"  # bolt's

    assert_refused(
        document,
        "organizations[0] (cobra) > numbers[0] (+14155550200) > number: +14155550200 is already registered to "
        "another organization",
        environ=ENV,
    )
    assert not Organization.objects.unscoped().filter(slug="cobra").exists()


def test_a_number_is_recognised_however_it_is_spaced():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = issue_example()
    document["organizations"][0]["slug"] = "cobra"
    document["organizations"][0]["numbers"][0]["number"] = "+1 (415) 555-0200"

    assert_refused(document, "+14155550200 is already registered to another organization", environ=ENV)


def test_a_member_of_another_organization_is_refused():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][1]["members"].append({"email": "ANA@acme.test", "role": "staff", "studios": ["downtown"]})

    assert_refused(
        document,
        "organizations[1] (bolt) > members[1] (ANA@acme.test) > email: ana@acme.test is a member of another "
        "organization",
    )


def test_an_account_kind_cannot_change():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["accounts"][3]["kind"] = "zoho_crm"

    assert_refused(
        document, "organizations[0] (acme) > accounts[3] (acme-voice) > kind: is a Zoho Voice account; its kind cannot"
    )


def test_two_default_accounts_of_one_kind_are_refused():
    document = full_document()
    document["organizations"][0]["accounts"][1]["default"] = True

    assert_refused(
        document,
        "organizations[0] (acme) > accounts[1] (acme-twilio-east) > default: acme-twilio is already the default "
        "Twilio account; mark only one",
    )
    assert_empty_database()


def test_a_second_default_next_to_one_already_stored_is_refused():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = {  # acme-twilio, the stored default, is not in this file, so it stays the default
        "organizations": [
            {
                "slug": "acme",
                "name": "Acme Fitness",
                "accounts": [{"name": "acme-twilio-west", "kind": "twilio", "account_sid": "AC999", "default": True}],
            }
        ]
    }

    assert_refused(
        document,
        "organizations[0] (acme) > accounts[0] (acme-twilio-west) > default: acme-twilio is already the default "
        "Twilio account",
        environ={},
    )


def test_an_unknown_merge_field_in_a_message_is_refused():
    document = full_document()
    document["organizations"][0]["studios"][1]["welcome_message"] = "Hi {frist_name}!"

    assert_refused(
        document,
        "organizations[0] (acme) > studios[1] (east) > welcome_message: Unknown merge field(s) {frist_name}",
    )
    assert_empty_database()


def test_a_mistake_in_the_second_organization_leaves_the_first_untouched():
    document = full_document()
    document["organizations"][1]["numbers"][0]["studio"] = "uptown"

    assert_refused(document, "organizations[1] (bolt) > numbers[0] (+14155550200) > studio: no studio 'uptown'")
    assert_empty_database()


def test_a_mistake_in_an_update_leaves_the_earlier_updates_undone():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["name"] = "Acme Renamed"
    document["organizations"][0]["studios"][0]["name"] = "Downtown Renamed"
    document["organizations"][0]["members"][3]["studios"] = ["gone"]

    assert_refused(document, "organizations[0] (acme) > members[3] (cy@acme.test) > studios: no studio 'gone'")
    assert acme().name == "Acme Fitness"


def test_the_command_lists_every_problem_and_says_nothing_was_applied(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ANA_PASSWORD")
    document = full_document()
    document["organizations"][0]["numbers"][1]["number"] = "4155550101"
    path = write_yaml(tmp_path, document)

    with pytest.raises(CommandError) as caught:
        run("tenants", "apply", str(path))

    message = str(caught.value)
    assert message.startswith("2 problems; nothing was applied:\n")
    assert at("  - organizations[0] (acme) > members[1] (ana@acme.test) > password: environment variable") in message
    assert at("  - organizations[0] (acme) > numbers[1] (4155550101) > number: ") in message
    assert_empty_database()


# --- 5. updates -----------------------------------------------------------------------------------------------
def test_renaming_a_studio_updates_it_in_place():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    studio = Studio.objects.for_organization(acme()).get(slug="east")
    document = full_document()
    document["organizations"][0]["studios"][1]["name"] = "East Side Flagship"

    report = tenants_apply(raw=document, environ=FULL_ENV)

    assert report.updated == {"studios": 1}
    studio.refresh_from_db()
    assert studio.name == "East Side Flagship"
    assert Studio.objects.for_organization(acme()).count() == 3


def test_moving_a_staff_member_between_studios():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["members"][1]["studios"] = ["east"]

    report = tenants_apply(raw=document, environ=FULL_ENV)

    assert report.updated == {"members": 1}
    ana = Membership.objects.for_organization(acme()).get(user__email="ana@acme.test")
    assert [s.slug for s in ana.studios.all()] == ["east"]
    assert ana.user.check_password(MEMBER_PASSWORD)


def test_making_a_staff_member_a_manager_clears_their_studios():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["members"][2] = {"email": "ben@acme.test", "role": "manager"}

    report = tenants_apply(raw=document, environ=FULL_ENV)

    assert report.updated == {"members": 1}
    ben = Membership.objects.for_organization(acme()).get(user__email="ben@acme.test")
    assert ben.role == "manager"
    assert list(ben.studios.all()) == []


def test_changing_a_numbers_studio():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["numbers"][1]["studio"] = "east"  # east has its own Twilio account
    document["organizations"][0]["numbers"][2] = {
        "number": "+14155550102",
        "provider": "twilio",
        "studios": ["downtown"],
        "account": "acme-twilio-east",
    }

    report = tenants_apply(raw=document, environ=FULL_ENV)

    assert report.updated == {"numbers": 2}
    numbers = {n.number: n for n in PhoneNumber.objects.for_organization(acme()).select_related("studio", "account")}
    moved = numbers["+14155550101"]
    assert (moved.studio.slug, moved.account.name) == ("east", "acme-twilio-east")
    shared = numbers["+14155550102"]
    assert shared.studio is None
    assert [s.slug for s in shared.shared_with.all()] == ["downtown"]


def test_moving_the_default_account_in_one_apply():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    document = full_document()
    document["organizations"][0]["accounts"][0]["default"] = False
    document["organizations"][0]["accounts"][1]["default"] = True

    report = tenants_apply(raw=document, environ=FULL_ENV)

    assert report.updated["accounts"] == 2
    assert not account("acme-twilio").is_default
    assert account("acme-twilio-east").is_default


def test_changing_a_secret_through_the_environment(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    path = write_yaml(tmp_path, full_document())
    run("tenants", "apply", str(path))
    monkeypatch.setenv("ACME_TWILIO_TOKEN", "plain-rotated-twilio-token-0008")

    out = run("tenants", "apply", str(path))

    assert "accounts: 0 created, 1 updated, 4 unchanged" in out
    assert account("acme-twilio").auth_token.reveal() == "plain-rotated-twilio-token-0008"
    stored = stored_column("auth_token", "acme-twilio")
    assert stored.startswith("gAAAAA")
    assert "plain-rotated-twilio-token-0008" not in stored


def test_changing_a_members_password_through_the_environment():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    report = tenants_apply(raw=full_document(), environ={**FULL_ENV, "ANA_PASSWORD": "plain-new-password-0009"})

    assert report.updated == {"members": 1}
    assert User.objects.get(email="ana@acme.test").check_password("plain-new-password-0009")


def test_nothing_missing_from_the_file_is_deleted():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    report = tenants_apply(raw=issue_example(), environ=ENV)

    assert report.created == {}
    assert Studio.objects.for_organization(acme()).count() == 3
    assert Organization.objects.unscoped().filter(slug="bolt").exists()


# --- 6. dry run and export options ----------------------------------------------------------------------------
def test_a_dry_run_reports_but_saves_nothing(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    path = write_yaml(tmp_path, full_document())

    out = run("tenants", "apply", str(path), "--dry-run")

    assert "organizations: 2 created, 0 updated, 0 unchanged" in out
    assert "members: 5 created" in out
    assert "Dry run: nothing was saved." in out
    assert_empty_database()


def test_a_dry_run_of_an_update_reports_it_and_keeps_the_old_values():
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    before = db_state()
    document = full_document()
    document["organizations"][0]["studios"][0]["name"] = "Downtown Renamed"

    report = tenants_apply(raw=document, environ=FULL_ENV, dry_run=True)

    assert report.dry_run
    assert report.updated == {"studios": 1}
    assert db_state() == before


def test_a_dry_run_still_reports_errors(tmp_path, monkeypatch):
    for name, value in FULL_ENV.items():
        monkeypatch.setenv(name, value)
    document = full_document()
    document["organizations"][0]["numbers"][0]["account"] = "acme-zoho"

    with pytest.raises(CommandError, match="A Twilio number needs a Twilio account"):
        run("tenants", "apply", str(write_yaml(tmp_path, document)), "--dry-run")


def test_export_can_be_limited_to_one_organization():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    document = yaml.safe_load(run("tenants", "export", "--organization", "bolt"))

    assert [o["slug"] for o in document["organizations"]] == ["bolt"]
    assert document == tenants_export(organization_slugs=["bolt"])


def test_export_refuses_an_unknown_organization():
    tenants_apply(raw=full_document(), environ=FULL_ENV)

    with pytest.raises(CommandError, match="No organization with slug nope"):
        run("tenants", "export", "--organization", "acme", "--organization", "nope")


def test_a_json_export_written_to_a_file_can_be_applied(tmp_path):
    tenants_apply(raw=full_document(), environ=FULL_ENV)
    path = tmp_path / "export.json"

    assert run("tenants", "export", "--format", "json", "--output", str(path)) == ""

    assert json.loads(path.read_text(encoding="utf-8")) == tenants_export()
    assert "Already up to date." in run("tenants", "apply", str(path))
    wipe_tenancy()
    assert "Applied." in run("tenants", "apply", str(path))
    assert tenants_export() == json.loads(path.read_text(encoding="utf-8"))


# --- 7. manage.py demo ----------------------------------------------------------------------------------------
def test_the_demo_loads_twice_with_debug_on(settings):
    settings.DEBUG = True

    first = run("demo")
    second = run("demo")

    # Demo Fitness Co. on Zoho, Summit on Salesforce, Peak on HubSpot, Harbor on Dynamics 365
    assert "organizations: 4 created" in first
    assert "Demo organization ready." in first
    for section, count in (("organizations", 4), ("accounts", 10), ("studios", 9), ("numbers", 10), ("members", 12)):
        assert f"{section}: 0 created, 0 updated, {count} unchanged" in second
    assert User.objects.get(email=OPERATOR_EMAIL).check_password(DEMO_PASSWORDS["operator"])
    assert User.objects.get(email=OPERATOR_EMAIL).is_superuser
    assert User.objects.get(email="ana@demo.leadline.test").check_password(DEMO_PASSWORDS["staff"])
    assert account("demo-twilio").api_base_url == settings.SANDBOX_URL


def test_the_demo_refuses_to_load_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DEBUG on"):
        run("demo")
    assert_empty_database()


def test_the_demo_loads_with_debug_off_when_production_is_allowed(settings):
    settings.DEBUG = False

    out = run("demo", "--allow-production")

    assert "Demo organization ready." in out
    assert Organization.objects.unscoped().filter(slug="demo").exists()


def test_the_demo_is_an_ordinary_tenants_file():
    document = demo_document(sandbox_url="http://127.0.0.1:8100")
    tenants_apply(raw=document, environ={})

    assert_all_unchanged(tenants_apply(raw=tenants_export(), environ={}))
    assert_all_unchanged(tenants_apply(raw=copy.deepcopy(document), environ={}))


def test_one_number_written_two_ways_is_a_duplicate_but_the_same_number_on_two_providers_is_not():
    document = issue_example()
    numbers = document["organizations"][0]["numbers"]
    numbers.append({"number": "+1 (415) 555-0100", "provider": "twilio", "account": "acme-twilio"})
    errors = assert_refused(document, "organizations[0] (acme) > numbers[1] (+1 (415) 555-0100): number")
    assert any("appears twice" in error for error in errors)

    document = issue_example()
    document["organizations"][0]["accounts"].append(
        {"name": "acme-voice", "kind": "zoho_voice", "client_id": "1000.X", "client_secret": "s"}
    )
    document["organizations"][0]["numbers"].append(
        {"number": "+14155550100", "provider": "zoho_voice", "account": "acme-voice", "studio": "downtown"}
    )
    report = tenants_apply(raw=document, environ=ENV)
    assert report.created["numbers"] == 2


def test_an_unquoted_phone_number_is_refused_with_a_hint_to_quote_it():
    document = yaml.safe_load(ISSUE_EXAMPLE_YAML.replace('number: "+14155550100"', "number: +14155550100"))
    assert document["organizations"][0]["numbers"][0]["number"] == 14155550100  # what YAML made of it
    assert_refused(
        document, "numbers[0] (14155550100) > number: Value error, put the phone number in quotes", environ=ENV
    )


def test_an_unquoted_zoho_user_id_is_taken_as_written():
    document = yaml.safe_load(
        ISSUE_EXAMPLE_YAML.replace('zoho_user_id: "4150868000000225013"', "zoho_user_id: 4150868000000225013")
    )
    tenants_apply(raw=document, environ=ENV)
    membership = Membership.objects.unscoped().get()
    assert crm_user_id_of(membership=membership, connection=account("acme-zoho")) == "4150868000000225013"


def test_a_manager_with_a_studio_list_is_refused_rather_than_silently_ignored():
    document = issue_example()
    document["organizations"][0]["members"].append(
        {"email": "boss@acme.test", "role": "manager", "studios": ["downtown"]}
    )
    assert_refused(document, "members[1] (boss@acme.test): Value error, a manager works in every studio", environ=ENV)


def test_a_member_listed_as_inactive_is_created_inactive():
    document = issue_example()
    document["organizations"][0]["members"][0]["is_active"] = False
    tenants_apply(raw=document, environ=ENV)
    assert Membership.objects.unscoped().get().is_active is False
    assert_all_unchanged(tenants_apply(raw=document, environ=ENV))


def test_a_broken_studio_is_reported_once_not_again_by_everything_that_refers_to_it():
    document = issue_example()
    document["organizations"][0]["studios"][0]["time_zone"] = "Mars/Olympus_Mons"
    errors = assert_refused(document, "studios[0] (downtown) > time_zone", environ=ENV)
    assert len(errors) == 1, errors  # the number and the member that name 'downtown' add nothing


def test_a_reference_to_a_studio_that_is_truly_missing_is_still_reported():
    document = issue_example()
    document["organizations"][0]["studios"][0]["time_zone"] = "Mars/Olympus_Mons"
    document["organizations"][0]["members"][0]["studios"] = ["downtown", "uptown"]
    errors = assert_refused(document, "members[0] (ana@acme.test) > studios: no studio 'uptown'", environ=ENV)
    assert len(errors) == 2, errors
