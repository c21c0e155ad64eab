"""Apply a tenants file: create or update everything it describes, in one transaction, or nothing at all.

Entries are matched by their natural keys (organization slug, account name, studio slug, number + provider,
member email, link name), so applying the same file twice changes nothing. Nothing absent from the file is deleted;
within an entry, what it lists is what there is (a member's studios, a member's CRM user ids, a link's object pairs
and their field mappings).

Links are checked against both CRMs' field metadata where both connections are connected: the metadata is read
before the transaction opens (no CRM call inside one), and every problem is reported with its place in the file.
A link never changes state here: starting, pausing and resuming are a manager's acts (the admin, `manage.py links`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from automation.services.settings import automation_webhook_token_is, automation_webhook_token_set
from core.exceptions import ApplicationError
from core.phone import normalize_e164
from core.secrets import Secret
from crm.connection_settings import connection_settings_apply
from crm.connection_state import CrmConnection
from crm.connections import crm_connection_get
from crm.errors import CrmError
from links.config import SpecOrReason, link_problem_list, object_specs_fetch
from links.models import LinkField, LinkObject, Side, SyncLink
from studios import services
from studios.models import (
    DEFAULT_URLS,
    URL_FIELDS,
    MemberCrmUser,
    Membership,
    Organization,
    PhoneNumber,
    ProviderAccount,
    ProviderKind,
    Studio,
    StudioAccount,
)
from studios.provider_kinds import crm_user_id_clean
from studios.selectors import provider_account_for_studio
from tenants.report import ApplyReport
from tenants.schema import (
    LEGACY_CRM_USER_ID_KEYS,
    AccountEntry,
    LinkEntry,
    LinkObjectEntry,
    MemberEntry,
    NumberEntry,
    OrganizationEntry,
    StudioEntry,
    TenantsDocument,
    TenantsFileError,
    describe_location,
    parse_document,
    resolve_secret,
)

User = get_user_model()


@dataclass
class TenantsApplyReport(ApplyReport):
    """The report, with the links counted and what could not be checked yet (notes, not errors)."""

    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = super().lines()
        if any(counter["links"] for counter in (self.created, self.updated, self.unchanged)):
            lines.append(
                f"links: {self.created['links']} created, {self.updated['links']} updated, "
                f"{self.unchanged['links']} unchanged"
            )
        return lines + [f"note: {note}" for note in self.notes]


def connection_is_connected(account: ProviderAccount) -> bool:
    """Whether the account's CRM connection has been connected (consented) and not lost since: its provider's
    connection row says CONNECTED. Asked of every CRM's connection model, so no vendor is named here."""
    for model in apps.get_models():
        if (
            issubclass(model, CrmConnection)
            and model._default_manager.filter(account=account, state=CrmConnection.State.CONNECTED).exists()
        ):
            return True
    return False


@dataclass
class LinkSpecs:
    """Field metadata read before the transaction, by (connection id, object): a spec or why there is none; the
    connections that were not connected (or not reachable), with the note to show."""

    specs: dict[tuple[int, str], SpecOrReason] = field(default_factory=dict)
    checked: set[int] = field(default_factory=set)
    unchecked: dict[int, str] = field(default_factory=dict)


def link_specs_prefetch(document: TenantsDocument) -> LinkSpecs:
    """The metadata of every object the file's links name, on connections that exist and are connected. Outside
    any transaction: it asks the CRMs (cached for a few minutes)."""
    found = LinkSpecs()
    for org_entry in document.organizations:
        if not org_entry.links:
            continue
        org = Organization.objects.unscoped().filter(slug=org_entry.slug).first()
        if org is None:
            continue
        names = {name for link in org_entry.links for name in (link.a, link.b)}
        accounts = {
            account.name: account
            for account in ProviderAccount.objects.for_organization(org).filter(name__in=names)
            if account.is_crm_connection
        }
        wanted: dict[int, set[str]] = {}
        for link in org_entry.links:
            for side in (Side.A, Side.B):
                account = accounts.get(getattr(link, side))
                if account is not None:
                    wanted.setdefault(account.pk, set()).update(getattr(o, side) for o in link.objects)
        for account in accounts.values():
            if account.pk not in wanted or account.pk in found.unchecked:
                continue
            if not connection_is_connected(account):
                found.unchecked[account.pk] = f"{account.name} is not connected yet"
                continue
            try:
                fetched = object_specs_fetch(connection=account, objects=sorted(wanted[account.pk]))
            except CrmError as exc:
                found.unchecked[account.pk] = f"{account.name} did not give its field metadata ({exc})"
                continue
            found.checked.add(account.pk)
            for name, spec in fetched.items():
                found.specs[(account.pk, name)] = spec
    return found


def _plain(value: Any) -> Any:
    return value.reveal() if isinstance(value, Secret) else value


def _assign(instance: models.Model, values: Mapping[str, Any]) -> bool:
    """Set the values that differ; True if any did. Secrets are compared by their plaintext."""
    changed = False
    for name, value in values.items():
        field = instance._meta.get_field(name)
        if field.is_relation:  # compare ids: the related object may not be set yet on a new instance
            differs = getattr(instance, field.attname) != (value.pk if value is not None else None)
        else:
            differs = _plain(getattr(instance, name)) != _plain(value)
        if differs:
            setattr(instance, name, value)
            changed = True
    return changed


def _errors_of(exc: ValidationError) -> list[tuple[str | None, str]]:
    if hasattr(exc, "error_dict"):
        return [
            (None if name == "__all__" else name, message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [(None, message) for message in exc.messages]


class _Applier:
    def __init__(self, raw: Mapping[str, Any], environ: Mapping[str, str] | None, link_specs: LinkSpecs | None = None):
        self.raw = raw
        self.environ = environ
        self.errors: list[str] = []
        self.report = TenantsApplyReport()
        self.link_specs = link_specs or LinkSpecs()
        # Entries that failed, by (model, organization, natural key): a reference to one of them is not a second
        # problem to report, the entry's own error already says what is wrong.
        self.failed: set[tuple[str, int, str]] = set()

    # --- helpers --------------------------------------------------------------------------------------------
    def where(self, *loc: str | int) -> str:
        return describe_location(self.raw, loc)

    def fail(self, loc: tuple[str | int, ...], message: str, field_name: str | None = None) -> None:
        self.errors.append(f"{self.where(*loc, *([field_name] if field_name else []))}: {message}")

    def secret(self, loc: tuple[str | int, ...], field_name: str, value: str | None) -> str | None:
        try:
            return resolve_secret(value, where=self.where(*loc, field_name), environ=self.environ)
        except TenantsFileError as exc:
            self.errors.extend(exc.errors)
            return None

    def save(self, instance: models.Model, loc: tuple[str | int, ...], *, needed: bool) -> bool:
        """Validate and save one entry if it changed; on failure record errors that name the entry and field."""
        if not needed:
            return True
        try:
            instance.full_clean()
        except ValidationError as exc:
            for field_name, message in _errors_of(exc):
                self.fail(loc, message, field_name)
            return False
        try:
            with transaction.atomic():
                instance.save()
        except IntegrityError as exc:
            self.fail(loc, f"conflicts with an existing record ({exc.__cause__ or exc})")
            return False
        return True

    def record(self, section: str, *, created: bool, changed: bool) -> None:
        self.report.count(section, "created" if created else "updated" if changed else "unchanged")

    # --- sections -------------------------------------------------------------------------------------------
    def organization(self, index: int, entry: OrganizationEntry) -> None:
        loc = ("organizations", index)
        # Operators' tool: it may see every organization, and finds this one by its slug.
        org = Organization.objects.unscoped().filter(slug=entry.slug).first()
        created = org is None
        org = org or Organization(slug=entry.slug)
        changed = _assign(org, {"name": entry.name, "is_active": entry.is_active})
        if not self.save(org, loc, needed=created or changed):
            return
        changed = self.lead_webhook_token(org, loc, entry) or changed
        self.record("organizations", created=created, changed=changed)
        # Defaults last, so moving the default from one account to another never holds two at once.
        ordered = sorted(enumerate(entry.accounts), key=lambda pair: pair[1].default)
        for i, account in ordered:
            self.account(org, (*loc, "accounts", i), account)
        for i, studio in enumerate(entry.studios):
            self.studio(org, (*loc, "studios", i), studio)
        for i, number in enumerate(entry.numbers):
            self.number(org, (*loc, "numbers", i), number)
        for i, member in enumerate(entry.members):
            self.member(org, (*loc, "members", i), member)
        for i, link in enumerate(entry.links):
            self.link(org, (*loc, "links", i), link)

    def lead_webhook_token(self, org: Organization, loc: tuple[str | int, ...], entry: OrganizationEntry) -> bool:
        """Set the new-lead webhook token when the file gives one that differs; True if it changed."""
        token = self.secret(loc, "lead_webhook_token", entry.lead_webhook_token)
        if token is None or automation_webhook_token_is(organization=org, token=token):
            return False
        try:
            automation_webhook_token_set(organization=org, token=token)
        except ValidationError as exc:
            for _, message in _errors_of(exc):
                self.fail(loc, message, "lead_webhook_token")
            return False
        return True

    def account(self, org: Organization, loc: tuple[str | int, ...], entry: AccountEntry) -> None:
        account = ProviderAccount.objects.for_organization(org).filter(name=entry.name).first()
        created = account is None
        if account is not None and account.kind != entry.kind:
            self.fail(loc, f"is a {account.get_kind_display()} account; its kind cannot change", "kind")
            return
        if entry.default:  # name the field, not the database constraint; non-defaults were applied first
            other = (
                ProviderAccount.objects.for_organization(org)
                .filter(kind=entry.kind, is_default=True)
                .exclude(name=entry.name)
                .first()
            )
            if other is not None:
                label = ProviderKind(entry.kind).label
                self.fail(loc, f"{other.name} is already the default {label} account; mark only one", "default")
                return
        account = account or ProviderAccount(organization=org, name=entry.name, kind=entry.kind)
        values: dict[str, Any] = {
            "is_default": entry.default,
            "account_sid": entry.account_sid,
            "client_id": entry.client_id,
        }
        # An omitted URL means the vendor's default: compare against that, or every apply would report a change.
        # One the vendor has no default for keeps what is stored (e.g. a CRM's instance host, named when connecting).
        for name in URL_FIELDS:
            default = DEFAULT_URLS.get(entry.kind, {}).get(name, "")
            if not getattr(entry, name) and not default and not created:
                default = getattr(account, name) or ""
            values[name] = (getattr(entry, name) or default).rstrip("/")
        # The tenants file is an operators' tool: it may name hosts other than the vendor's own (the sandbox, an
        # emulator); the account then records that an operator did (a private address still needs the setting).
        values["custom_endpoints"] = not ProviderAccount(
            kind=entry.kind, **{name: values[name] for name in URL_FIELDS}
        ).endpoints_are_vendors_own()
        for name in ("auth_token", "client_secret", "refresh_token"):
            secret = self.secret(loc, name, getattr(entry, name))
            if secret is not None:
                values[name] = secret
        changed = _assign(account, values)
        if not self.save(account, loc, needed=created or changed):
            self.failed.add(("ProviderAccount", org.pk, entry.name))
            return
        try:
            changed = connection_settings_apply(account, entry.connection_settings) or changed
        except ValidationError as exc:
            for field_name, message in _errors_of(exc):
                self.fail(loc, message, field_name)
            return
        self.record("accounts", created=created, changed=changed)

    def studio(self, org: Organization, loc: tuple[str | int, ...], entry: StudioEntry) -> None:
        studio = Studio.objects.for_organization(org).filter(slug=entry.slug).first()
        created = studio is None
        studio = studio or Studio(organization=org, slug=entry.slug)
        values: dict[str, Any] = {"name": entry.name, "time_zone": entry.time_zone, "is_active": entry.is_active}
        if entry.welcome_message is not None:
            values["welcome_message"] = entry.welcome_message
        if entry.help_message is not None:
            values["help_message"] = entry.help_message
        changed = _assign(studio, values)
        if not self.save(studio, loc, needed=created or changed):
            self.failed.add(("Studio", org.pk, entry.slug))
            return
        accounts = self.lookup(org, ProviderAccount, "name", entry.accounts, loc, "accounts", "account")
        if accounts is None:
            return
        current = StudioAccount.objects.for_organization(org).filter(studio=studio).values_list("account_id", flat=True)
        accounts_changed = set(current) != {a.pk for a in accounts}
        if accounts_changed:
            try:
                services.studio_accounts_set(studio=studio, accounts=accounts)
            except ValidationError as exc:
                for _, message in _errors_of(exc):
                    self.fail(loc, message, "accounts")
                return
        self.record("studios", created=created, changed=changed or accounts_changed)

    def lookup(
        self,
        org: Organization,
        model: type[models.Model],
        key: str,
        values: list[str],
        loc: tuple[str | int, ...],
        field_name: str,
        what: str,
    ) -> list[Any] | None:
        """Resolve references by natural key within the organization; None (and errors) if any is missing."""
        found = {getattr(obj, key): obj for obj in model.objects.for_organization(org).filter(**{f"{key}__in": values})}
        missing = [value for value in values if value not in found]
        unexplained = [value for value in missing if (model.__name__, org.pk, value) not in self.failed]
        if unexplained:
            self.fail(loc, f"no {what} {', '.join(repr(m) for m in unexplained)} in {org.slug}", field_name)
        if missing:
            return None
        return [found[value] for value in values]

    def number(self, org: Organization, loc: tuple[str | int, ...], entry: NumberEntry) -> None:
        try:
            e164 = normalize_e164(entry.number)
        except ValidationError as exc:
            self.fail(loc, exc.messages[0], "number")
            return
        if entry.studio and entry.studios:
            self.fail(
                loc, "give either 'studio' (the owner) or 'studios' (a shared number's studios), not both", "studios"
            )
            return
        # Numbers are unique per provider across every tenant; look globally so a clash is reported, not hidden.
        number = PhoneNumber.objects.unscoped().filter(provider=entry.provider, number=e164).first()
        if number is not None and number.organization_id != org.pk:
            self.fail(loc, f"{e164} is already registered to another organization", "number")
            return
        studio = None
        if entry.studio:
            found = self.lookup(org, Studio, "slug", [entry.studio], loc, "studio", "studio")
            if found is None:
                return
            studio = found[0]
        shared_with = self.lookup(org, Studio, "slug", entry.studios, loc, "studios", "studio")
        if shared_with is None:
            return
        account = self.number_account(org, loc, entry, studio)
        if account is None:
            return
        created = number is None
        number = number or PhoneNumber(organization=org, provider=entry.provider, number=e164)
        changed = _assign(
            number, {"account": account, "studio": studio, "label": entry.label, "is_active": entry.is_active}
        )
        current_shared = set() if created else set(number.shared_with.values_list("pk", flat=True))
        shared_changed = current_shared != {s.pk for s in shared_with}
        if not self.save(number, loc, needed=created or changed):
            return
        if shared_changed:
            number.shared_with.set(shared_with)
        self.record("numbers", created=created, changed=changed or shared_changed)

    def number_account(
        self, org: Organization, loc: tuple[str | int, ...], entry: NumberEntry, studio: Studio | None
    ) -> ProviderAccount | None:
        if entry.account:
            found = self.lookup(org, ProviderAccount, "name", [entry.account], loc, "account", "account")
            return found[0] if found else None
        try:
            if studio is not None:
                return provider_account_for_studio(studio=studio, kind=entry.provider)
            accounts = list(
                ProviderAccount.objects.for_organization(org)
                .filter(kind=entry.provider)
                .order_by("-is_default", "name")[:2]
            )
            if len(accounts) == 1 or (accounts and accounts[0].is_default):
                return accounts[0]
            raise ApplicationError(
                f"name the account: {org.slug} has "
                f"{'no' if not accounts else 'several'} {ProviderKind(entry.provider).label} accounts"
                + ("" if not accounts else " and none is the default")
            )
        except ApplicationError as exc:
            self.fail(loc, exc.message, "account")
            return None

    def member(self, org: Organization, loc: tuple[str | int, ...], entry: MemberEntry) -> None:
        email = entry.email.strip().lower()
        studios = self.lookup(org, Studio, "slug", entry.studios, loc, "studios", "studio")
        password = self.secret(loc, "password", entry.password)
        crm_user_ids = self.crm_user_ids(org, loc, entry)
        if studios is None or crm_user_ids is None:
            return
        user = User.objects.filter(email__iexact=email).first()
        membership = Membership.objects.unscoped().filter(user=user).first() if user else None
        if membership is not None and membership.organization_id != org.pk:
            self.fail(loc, f"{email} is a member of another organization; a person belongs to one", "email")
            return
        try:
            if membership is None and user is None:
                services.membership_create(
                    organization=org,
                    email=email,
                    role=entry.role,
                    studios=studios,
                    full_name=entry.name,
                    crm_user_ids=crm_user_ids,
                    password=password,
                    is_active=entry.is_active,
                )
                self.record("members", created=True, changed=True)
                return
            if membership is None:  # an existing sign-in (e.g. an operator) joins the organization
                membership = Membership(user=user, organization=org, role=entry.role)
                membership.full_clean()
                membership.save()
                created = True
            else:
                created = False
            # The member's links are the entry's: one to a connection the entry leaves out is removed ("").
            linked = {
                link.connection: link.crm_user_id
                for link in MemberCrmUser.objects.for_organization(org)
                .select_related("connection")
                .filter(membership=membership)
            }
            crm_changes = {
                connection: crm_user_ids.get(connection, "")
                for connection in {*linked, *crm_user_ids}
                if linked.get(connection, "") != crm_user_ids.get(connection, "")
            }
            wanted_studios = {s.pk for s in studios} if entry.role == Membership.Role.STAFF else set()
            unchanged = (
                not created
                and not crm_changes
                and membership.role == entry.role
                and membership.is_active == entry.is_active
                and membership.user.full_name == entry.name
                and set(membership.studios.values_list("pk", flat=True)) == wanted_studios
                and (password is None or membership.user.check_password(password))
            )
            if unchanged:
                self.record("members", created=False, changed=False)
                return
            services.membership_update(
                membership=membership,
                role=entry.role,
                studios=studios,
                full_name=entry.name,
                crm_user_ids=crm_changes,
                is_active=entry.is_active,
                password=password,
            )
            self.record("members", created=created, changed=True)
        except ValidationError as exc:
            # The services name a CRM user id's problem by the model's fields; the file's field is the entry's.
            ids_field = "crm_user_ids" if entry.crm_user_ids else next(iter(LEGACY_CRM_USER_ID_KEYS))
            for field_name, message in _errors_of(exc):
                self.fail(loc, message, ids_field if field_name in ("crm_user_id", "connection") else field_name)
        except ApplicationError as exc:
            self.fail(loc, exc.message)

    def crm_user_ids(
        self, org: Organization, loc: tuple[str | int, ...], entry: MemberEntry
    ) -> dict[ProviderAccount, str] | None:
        """The member's CRM user id per connection, from `crm_user_ids` (by account name) and the first form
        (`zoho_user_id`: the organization's default or only account of that kind); None (and errors) if one
        cannot be resolved."""
        wanted: dict[ProviderAccount, str] = {}
        names = list(entry.crm_user_ids)
        accounts = self.lookup(org, ProviderAccount, "name", names, loc, "crm_user_ids", "account")
        if accounts is None:
            return None
        for account, name in zip(accounts, names, strict=True):
            if not account.is_crm_connection:
                self.fail(
                    loc, f"{name} is a {account.get_kind_display()} account, not a CRM connection", "crm_user_ids"
                )
                return None
            try:
                wanted[account] = crm_user_id_clean(account.kind, entry.crm_user_ids[name])
            except ValueError as exc:
                self.fail(loc, f"{name}: {exc}", "crm_user_ids")
                return None
        for key, kind in LEGACY_CRM_USER_ID_KEYS.items():
            crm_user_id = getattr(entry, key).strip()
            if not crm_user_id:
                continue
            connection = crm_connection_get(organization=org, kind=kind)
            if connection is None:
                label = ProviderKind(kind).label
                self.fail(
                    loc,
                    f"names the member's {label} user, but {org.slug} has no {label} account, or several and none "
                    f"is the default; add or mark one under accounts, or give crm_user_ids by account name",
                    key,
                )
                return None
            if wanted.get(connection) and wanted[connection] != crm_user_id:
                self.fail(loc, f"says {crm_user_id}, crm_user_ids says {wanted[connection]} for {connection.name}", key)
                return None
            wanted[connection] = crm_user_id
        return {connection: crm_user_id for connection, crm_user_id in wanted.items() if crm_user_id}

    # --- links ----------------------------------------------------------------------------------------------
    def link(self, org: Organization, loc: tuple[str | int, ...], entry: LinkEntry) -> None:
        sides = {}
        for side in (Side.A, Side.B):
            found = self.lookup(org, ProviderAccount, "name", [getattr(entry, side)], loc, side, "account")
            if found is None:
                return
            if not found[0].is_crm_connection:
                self.fail(
                    loc, f"{found[0].name} is a {found[0].get_kind_display()} account, not a CRM connection", side
                )
                return
            sides[side] = found[0]
        link = SyncLink.objects.for_organization(org).filter(name=entry.name).first()
        created = link is None
        link = link or SyncLink(organization=org, name=entry.name)
        if not created and link.state != SyncLink.State.DRAFT:
            if (link.connection_a_id, link.connection_b_id) != (sides[Side.A].pk, sides[Side.B].pk):
                self.fail(loc, f"{entry.name} has started: its connections cannot change (make a new link)", "a")
                return
        owners = [{"a": owner.a, "b": owner.b} for owner in entry.owners]
        changed = _assign(
            link,
            {
                "connection_a": sides[Side.A],
                "connection_b": sides[Side.B],
                "time_zone": entry.time_zone,
                "owners": owners,
            },
        )
        if not self.save(link, loc, needed=created or changed):
            return
        objects_changed = self.link_objects(org, loc, link, entry.objects)
        if objects_changed is None:
            return
        self.record("links", created=created, changed=changed or objects_changed)
        self.link_check(link, loc, entry)

    def link_objects(
        self, org: Organization, loc: tuple[str | int, ...], link: SyncLink, entries: list[LinkObjectEntry]
    ) -> bool | None:
        """The link's object pairs and their fields are the entry's: others are removed. Whether any changed; None
        (and errors) when one could not be saved."""
        existing = {(o.object_a, o.object_b): o for o in LinkObject.objects.for_organization(org).filter(link=link)}
        wanted = {(e.a, e.b) for e in entries}
        removed = [o.pk for key, o in existing.items() if key not in wanted]
        changed = bool(removed)
        if removed:
            LinkObject.objects.for_organization(org).filter(pk__in=removed).delete()
        for position, entry in enumerate(entries):
            where = (*loc, "objects", position)
            link_object = existing.get((entry.a, entry.b))
            created = link_object is None
            link_object = link_object or LinkObject(organization=org, link=link, object_a=entry.a, object_b=entry.b)
            values = {
                "external_id_a": entry.external_id.a,
                "external_id_b": entry.external_id.b,
                "match_by": list(entry.match_by),
                "create_a": entry.create.a,
                "create_b": entry.create.b,
                "deletes": entry.deletes,
                "archive_a": dict(entry.archive.a),
                "archive_b": dict(entry.archive.b),
                "position": position,
            }
            object_changed = _assign(link_object, values)
            if not self.save(link_object, where, needed=created or object_changed):
                return None
            fields_changed = self.link_fields(org, where, link_object, entry)
            if fields_changed is None:
                return None
            changed = changed or created or object_changed or fields_changed
        return changed

    def link_fields(
        self, org: Organization, loc: tuple[str | int, ...], link_object: LinkObject, entry: LinkObjectEntry
    ) -> bool | None:
        """A mapping is kept (with what the link remembers of it) while its two fields stay; one whose fields
        change is a new mapping."""
        existing = {
            (f.field_a, f.field_b): f for f in LinkField.objects.for_organization(org).filter(link_object=link_object)
        }
        wanted = {(f.a, f.b) for f in entry.fields}
        removed = [f.pk for key, f in existing.items() if key not in wanted]
        changed = bool(removed)
        if removed:
            LinkField.objects.for_organization(org).filter(pk__in=removed).delete()
        for i, field_entry in enumerate(entry.fields):
            link_field = existing.get((field_entry.a, field_entry.b))
            created = link_field is None
            link_field = link_field or LinkField(
                organization=org, link_object=link_object, field_a=field_entry.a, field_b=field_entry.b
            )
            field_changed = _assign(
                link_field,
                {
                    "direction": field_entry.direction,
                    "conflict": field_entry.conflict,
                    "clears": field_entry.clears,
                    "values_a_to_b": dict(field_entry.values.a_to_b),
                    "values_b_to_a": dict(field_entry.values.b_to_a),
                },
            )
            if not self.save(link_field, (*loc, "fields", i), needed=created or field_changed):
                return None
            changed = changed or created or field_changed
        return changed

    def link_check(self, link: SyncLink, loc: tuple[str | int, ...], entry: LinkEntry) -> None:
        """The link against both CRMs' field metadata (read before the transaction), every problem at its place
        in the file; a connection not connected yet is a note: `links preview` checks once it is."""
        unchecked = [
            self.link_specs.unchecked.get(connection.pk, f"{connection.name} is not connected yet")
            for connection in (link.connection_a, link.connection_b)
            if connection.pk not in self.link_specs.checked
        ]
        if unchecked:
            self.report.notes.append(
                f"{self.where(*loc)}: fields not checked against the CRMs: {'; '.join(unchecked)}. "
                f"`manage.py links preview --organization {link.organization.slug} --link {link.name}` checks them."
            )
            return
        object_specs: dict[tuple[str, str], SpecOrReason] = {}
        for side, connection_id in ((Side.A, link.connection_a_id), (Side.B, link.connection_b_id)):
            for object_entry in entry.objects:
                name = getattr(object_entry, side)
                if (connection_id, name) in self.link_specs.specs:
                    object_specs[(side, name)] = self.link_specs.specs[(connection_id, name)]
        positions = {(o.a, o.b): i for i, o in enumerate(entry.objects)}
        for problem in link_problem_list(link, object_specs=object_specs):
            where: tuple[str | int, ...] = loc
            if problem.link_object is not None:
                index = positions.get((problem.link_object.object_a, problem.link_object.object_b))
                where = (*loc, "objects", index)
                if problem.link_field is not None:
                    fields = [(f.a, f.b) for f in entry.objects[index].fields]
                    pair = (problem.link_field.field_a, problem.link_field.field_b)
                    if pair in fields:
                        where = (*where, "fields", fields.index(pair))
            self.fail(where, problem.message)


def tenants_apply(
    *,
    raw: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> ApplyReport:
    """Apply a tenants document in one transaction. Raises TenantsFileError, having changed nothing, if any
    entry is wrong; with dry_run the changes are computed and rolled back."""
    document: TenantsDocument = parse_document(dict(raw))
    # Links' field metadata: asked of the CRMs now, never inside the transaction below.
    applier = _Applier(raw, environ, link_specs_prefetch(document))
    with transaction.atomic():
        for index, organization in enumerate(document.organizations):
            applier.organization(index, organization)
        if applier.errors:
            raise TenantsFileError(applier.errors)  # leaving the block by an exception rolls everything back
        if dry_run:
            transaction.set_rollback(True)
    applier.report.dry_run = dry_run
    return applier.report
