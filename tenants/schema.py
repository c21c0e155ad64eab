"""The tenants file's shape, checked with pydantic so that every error names its entry and field.

    organizations:
      - slug: acme
        name: Acme Fitness
        lead_webhook_token: env:ACME_LEAD_WEBHOOK_TOKEN   # optional: the secret of the new-lead webhook URL
        accounts:   [{name, kind (a studios ProviderKind value), default, account_sid, auth_token, client_id,
                      client_secret, refresh_token, api_base_url, accounts_url, api_domain,
                      and its CRM connection's settings (the ones its kind declares: docs/tenants.md)}]
        studios:    [{slug, name, time_zone, welcome_message, help_message, is_active, accounts: [names]}]
        numbers:    [{number, provider, account, studio, studios: [slugs], label, is_active}]
        members:    [{email, role: staff|manager, name, studios: [slugs], crm_user_ids: {account name: id},
                      password, is_active}]
        links:      [{name, a (account name), b (account name), time_zone, owners: [{a, b}],
                      objects: [{a, b, external_id: {a, b}, match_by: [external_id|email|phone], create: {a, b},
                                 deletes: mirror|archive|ignore, archive: {a: {field: value}, b: {...}},
                                 fields: [{a, b, direction: both|a_to_b|b_to_a, conflict: latest|a_wins|b_wins,
                                           clears, values: {a_to_b: {A value: B value}, b_to_a: {...}}}]}]}]

A member's `crm_user_ids` says who they are in each of the organization's CRM connections (accounts of a CRM
kind, named as under `accounts`); the member is linked to exactly those (one left out is unlinked). Files written
before an organization could connect several CRMs say `zoho_user_id: "..."` instead: the member's CRM user id on
the organization's default (or only) connection of the kind that key names (LEGACY_CRM_USER_ID_KEYS). It still
applies, alone or beside
`crm_user_ids`; `tenants export` writes `crm_user_ids`.

Secrets (auth_token, client_secret, refresh_token, password, lead_webhook_token) are literals or `env:NAME`
references; an omitted secret keeps the stored one, so an exported file (which has none) can be applied back safely.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from django.core.exceptions import ValidationError as DjangoValidationError

from core import merge_fields
from core.phone import normalize_e164
from crm.connection_settings import connection_settings_kinds, connection_settings_names
from studios.models import TEMPLATE_FIELDS
from studios.provider_kinds import NumberProvider, ProviderKind

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=63)]
ENV_PREFIX = "env:"
# A member's CRM user id under its first name: the key, and the kind of connection it means (the organization's
# default or only account of that kind). Kept so that files written before `crm_user_ids` apply unchanged.
LEGACY_CRM_USER_ID_KEYS: dict[str, str] = {"zoho_user_id": ProviderKind.ZOHO_CRM.value}


class TenantsFileError(Exception):
    """The file cannot be applied. `errors` lists every problem as 'where: what'."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountEntry(_Entry):
    name: Slug
    kind: Literal[tuple(ProviderKind.values)]  # type: ignore[valid-type]  # the stored kinds, as written
    default: bool = False
    account_sid: str = ""
    auth_token: str | None = None
    client_id: str = ""
    client_secret: str | None = None
    refresh_token: str | None = None
    api_base_url: str = ""
    accounts_url: str = ""
    api_domain: str = ""
    # Settings of the account's CRM connection, written flat on the entry under the connection's field names: each
    # CRM declares its own (crm.connection_settings). Omitted: the connection keeps what it has.
    _connection_settings: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _connection_settings_of_its_kind(
        cls, data: Any, handler: ModelWrapValidatorHandler[AccountEntry]
    ) -> AccountEntry:
        settings: dict[str, Any] = {}
        if isinstance(data, Mapping):
            settings = {name: value for name, value in data.items() if connection_settings_kinds(str(name))}
            data = {name: value for name, value in data.items() if name not in settings}
        entry = handler(data)
        for name, value in settings.items():
            if name not in connection_settings_names(entry.kind):
                kinds = ", ".join(connection_settings_kinds(name))
                raise ValueError(f"{name} is a setting of {kinds} accounts, not of kind {entry.kind}")
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} is text: put it in quotes")
        entry._connection_settings = {name: value.strip() for name, value in settings.items() if value is not None}
        return entry

    @property
    def connection_settings(self) -> dict[str, str]:
        """The connection settings the entry gives, by name (an omitted one is absent)."""
        return dict(self._connection_settings)


class StudioEntry(_Entry):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    time_zone: str = "America/New_York"
    welcome_message: str | None = None
    help_message: str | None = None
    is_active: bool = True
    accounts: list[Slug] = []

    @field_validator("welcome_message", "help_message")
    @classmethod
    def _template_is_safe(cls, value: str | None) -> str | None:
        # The same check as the model's (core.merge_fields), before anything is applied; the message is kept as
        # written (a custom error: no "Value error," prefix and no formatting of its braces).
        if value is not None:
            try:
                merge_fields.validate(value, allowed=TEMPLATE_FIELDS)
            except merge_fields.TemplateError as exc:
                raise PydanticCustomError("template", str(exc)) from exc
        return value


def _not_a_yaml_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError('put the phone number in quotes, e.g. "+14155550100": YAML read it as a number')
    return value


class NumberEntry(_Entry):
    number: str = Field(min_length=1)

    _number_is_text = field_validator("number", mode="before")(_not_a_yaml_number)
    provider: Literal[tuple(NumberProvider.values)]  # type: ignore[valid-type]
    account: Slug | None = None
    studio: Slug | None = None
    studios: list[Slug] = []
    label: str = ""
    is_active: bool = True


def _as_written(value: Any) -> Any:
    # An unquoted id is read by YAML as an integer; ids are exact strings of digits, so take it as written.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class MemberEntry(_Entry):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["staff", "manager"]
    name: str = ""
    studios: list[Slug] = []
    crm_user_ids: dict[Slug, str] = {}
    zoho_user_id: str = ""  # the first form of a CRM user id (LEGACY_CRM_USER_ID_KEYS)
    password: str | None = None
    is_active: bool = True

    @field_validator("zoho_user_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _as_written(value)

    @field_validator("crm_user_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        return {key: _as_written(item) for key, item in value.items()} if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _managers_have_no_studios(self) -> MemberEntry:
        if self.role == "manager" and self.studios:
            raise ValueError("a manager works in every studio; leave out 'studios' (or make them staff)")
        return self


class SidesText(_Entry):
    """A name on each side of a link (an external id field)."""

    a: str = ""
    b: str = ""


class SidesFlag(_Entry):
    a: bool = True
    b: bool = True


class SidesValues(_Entry):
    """Values set on each side (the archive values: vendor field name -> value)."""

    a: dict[str, Any] = {}
    b: dict[str, Any] = {}


class ValueMaps(_Entry):
    a_to_b: dict[str, str] = {}
    b_to_a: dict[str, str] = {}

    @field_validator("a_to_b", "b_to_a", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        # Picklist values are text (a number's digits, for option sets); YAML reads 100000001 as a number.
        return (
            {str(_as_written(k)): str(_as_written(v)) for k, v in value.items()}
            if isinstance(value, Mapping)
            else value
        )


class LinkFieldEntry(_Entry):
    a: str = Field(min_length=1, max_length=100)
    b: str = Field(min_length=1, max_length=100)
    direction: Literal["both", "a_to_b", "b_to_a"] = "both"
    conflict: Literal["latest", "a_wins", "b_wins"] = "latest"
    clears: bool = False
    values: ValueMaps = ValueMaps()


class LinkObjectEntry(_Entry):
    a: str = Field(min_length=1, max_length=100)
    b: str = Field(min_length=1, max_length=100)
    external_id: SidesText = SidesText()
    match_by: list[Literal["external_id", "email", "phone"]] = ["external_id", "email", "phone"]
    create: SidesFlag = SidesFlag()
    deletes: Literal["mirror", "archive", "ignore"] = "ignore"
    archive: SidesValues = SidesValues()
    fields: list[LinkFieldEntry] = []


class OwnerPair(_Entry):
    a: str = Field(min_length=1, max_length=64)
    b: str = Field(min_length=1, max_length=64)

    @field_validator("a", "b", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return _as_written(value)


class LinkEntry(_Entry):
    """A two-way sync link between two of the organization's CRM accounts (docs/links.md). Applying the file
    configures it; it never starts, pauses or resumes one (a manager's act: the admin or `manage.py links`)."""

    name: Slug
    a: Slug
    b: Slug
    time_zone: str = "America/New_York"
    owners: list[OwnerPair] = []
    objects: list[LinkObjectEntry] = []

    @model_validator(mode="after")
    def _two_accounts(self) -> LinkEntry:
        if self.a == self.b:
            raise ValueError("a and b name the same account: a link keeps two CRM connections in step")
        return self


class OrganizationEntry(_Entry):
    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    is_active: bool = True
    # The secret in the new-lead webhook URL (docs/automation.md), a secret like the others (env:NAME); omitted
    # keeps the current one. A new value replaces the old at once: update the CRM's workflow rule.
    lead_webhook_token: str | None = None
    accounts: list[AccountEntry] = []
    studios: list[StudioEntry] = []
    numbers: list[NumberEntry] = []
    members: list[MemberEntry] = []
    links: list[LinkEntry] = []


class TenantsDocument(_Entry):
    organizations: list[OrganizationEntry] = Field(min_length=1)


# Which key names an entry in error messages: "organizations[0] (acme) > numbers[1] (+14155550101) > account".
_ENTRY_LABEL_KEYS = ("slug", "email", "number", "name")


def _entry_label(entry: Any) -> str | None:
    if isinstance(entry, Mapping):
        for key in _ENTRY_LABEL_KEYS:
            if entry.get(key):
                return str(entry[key])
        # A link's object pair or field mapping: "lead ⇄ contact", "Last_Name ⇄ lastname".
        if isinstance(entry.get("a"), str) and isinstance(entry.get("b"), str):
            return f"{entry['a']} ⇄ {entry['b']}"
    return None


def describe_location(raw: Any, loc: tuple[str | int, ...]) -> str:
    """Turn a location in the document into words a person can find in their file."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and key < len(node) else None
            label = _entry_label(node)
            parts[-1] = f"{parts[-1]}[{key}]" + (f" ({label})" if label else "")
        else:
            node = node.get(key) if isinstance(node, Mapping) else None
            parts.append(str(key))
    return " > ".join(parts) if parts else "the file"


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON file (by extension; YAML otherwise, which also reads JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TenantsFileError([f"{path}: cannot read the file ({exc.strerror or exc})."]) from exc
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TenantsFileError(
            [f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"]
        ) from exc
    if not isinstance(document, dict):
        raise TenantsFileError([f"{path}: expected a mapping with an 'organizations' list at the top."])
    return document


def parse_document(raw: dict[str, Any]) -> TenantsDocument:
    try:
        document = TenantsDocument.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown field (check the spelling; see the format in docs/tenants.md)"
            errors.append(f"{describe_location(raw, tuple(error['loc']))}: {message}")
        raise TenantsFileError(errors) from exc
    errors = _duplicates(raw, document)
    if errors:
        raise TenantsFileError(errors)
    return document


def _duplicates(raw: dict[str, Any], document: TenantsDocument) -> list[str]:
    errors: list[str] = []

    def check(items: list[Any], key: str, where: tuple[str | int, ...], what: str, identity=None) -> None:
        seen: dict[Any, int] = {}
        for index, item in enumerate(items):
            value = identity(item) if identity else getattr(item, key)
            value = value.lower() if isinstance(value, str) else value
            if value in seen:
                errors.append(
                    f"{describe_location(raw, (*where, index))}: {what} {getattr(item, key)!r} "
                    f"appears twice (first at index {seen[value]})"
                )
            seen.setdefault(value, index)

    check(document.organizations, "slug", ("organizations",), "organization")
    for i, org in enumerate(document.organizations):
        base = ("organizations", i)
        check(org.accounts, "name", (*base, "accounts"), "account")
        check(org.studios, "slug", (*base, "studios"), "studio")
        check(org.numbers, "number", (*base, "numbers"), "number", identity=_number_identity)
        check(org.members, "email", (*base, "members"), "member")
        check(org.links, "name", (*base, "links"), "link")
        for j, link in enumerate(org.links):
            check(link.objects, "a", (*base, "links", j, "objects"), "object pair", identity=lambda o: (o.a, o.b))
            for k, pair in enumerate(link.objects):
                where = (*base, "links", j, "objects", k, "fields")
                check(pair.fields, "a", where, "side A field")
                check(pair.fields, "b", where, "side B field")
    return errors


def _number_identity(entry: NumberEntry) -> tuple[str, str]:
    """Numbers are unique per provider, in E.164: "+1 415 555 0100" and "+14155550100" are one number."""
    try:
        number = normalize_e164(entry.number)
    except DjangoValidationError:
        number = entry.number  # reported as invalid when the entry is applied
    return (entry.provider, number)


def resolve_secret(value: str | None, *, where: str, environ: Mapping[str, str] | None = None) -> str | None:
    """`env:NAME` → the variable's value; a literal stays itself; None (omitted) stays None."""
    if value is None:
        return None
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :].strip()
        environ = os.environ if environ is None else environ
        if not name:
            raise TenantsFileError([f"{where}: 'env:' needs a variable name, e.g. env:ACME_TWILIO_TOKEN"])
        if name not in environ or environ[name] == "":
            raise TenantsFileError([f"{where}: environment variable {name} is not set"])
        return environ[name]
    return value
