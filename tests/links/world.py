"""Two CRMs of one organization on one sandbox, linked: the world the two-way sync tests (tests/links/test_two_way_*.py)
and nothing else act in.

    world = World(server=empty_sandbox, kinds=("zoho", "hubspot"))
    link = world.link_create(Objects("contact", "contact", fields=[Field("Email", "email"), ...]))
    world.mirror_all(); world.preview(); world.start(); world.quiesce()
    assert not world.differences(link_object)

Each side is a CRM connection made by that CRM's contract harness (tests/crm/harness_<kind>.py), so people's edits,
faults and the emulator's tally of API writes come from the same code the contract suite trusts. The mirror is the
real one (`sync.delta.sync_run`, one run per object and side, as the schedule would run them); the link acts through
`links.apply.link_apply`, as its task would. Nothing here imports a vendor's package: the harnesses do.

`quiesce` runs rounds of {mirror every linked object of both sides; apply the link} until a round writes nothing to
either CRM and nothing waits in the link's inbox or outbox. A write or change put back for later (a 429's backoff, a
lookup not linked yet) is brought forward at the end of each round: the clock of a long run, without the waiting.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from core.phone import e164_or_blank
from links.models import LinkChange, LinkField, LinkObject, LinkWrite, RecordPair, Side, SyncLink
from sync.delta import sync_run
from sync.models import SyncRun
from tests.crm.harness import ContractHarness
from tests.factories import OrganizationFactory

SIDES = (Side.A, Side.B)
MAX_ROUNDS = 12
PHONE_NAME = re.compile(r"phone|mobile|telephone", re.IGNORECASE)
EMAIL_NAME = re.compile(r"e-?mail", re.IGNORECASE)


def harness_class(kind: str) -> type[ContractHarness]:
    return importlib.import_module(f"tests.crm.harness_{kind}").Harness


def sandbox_fixture(kinds: Iterable[str]) -> str:
    """The sandbox fixture two CRMs need together: the TLS one when either harness asks for it (Dynamics' sign-in)."""
    fixtures = {harness_class(kind).sandbox_fixture for kind in kinds}
    return "tls_sandbox" if "tls_sandbox" in fixtures else "empty_sandbox"


@dataclass(frozen=True)
class Field:
    """One LinkField: vendor names on each side, and its rules (as LinkField's choices spell them)."""

    a: str
    b: str
    direction: str = LinkField.Direction.BOTH
    conflict: str = LinkField.Conflict.LATEST
    clears: bool = False
    values_a_to_b: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Objects:
    """One LinkObject: the canonical objects of each side, their fields, how records match and deletes spread."""

    object_a: str
    object_b: str
    fields: Sequence[Field]
    match_by: Sequence[str] = ("external_id", "email", "phone")
    deletes: str = LinkObject.Deletes.MIRROR
    create_a: bool = True
    create_b: bool = True
    # With deletes=archive: the values set on a side when its linked record is deleted on the other.
    archive_a: Mapping[str, Any] = field(default_factory=dict)
    archive_b: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Quiet:
    """What `quiesce` took: rounds, and the records each side's CRM wrote meanwhile (its own tally)."""

    rounds: int
    written: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.written.values())


class NotQuiet(AssertionError):
    pass


class World:
    """An organization with a connection to each of two CRMs (side A and side B) on one sandbox server."""

    def __init__(self, *, server: Any, kinds: tuple[str, str], slug: str = "two-way") -> None:
        self.server = server
        self.organization = OrganizationFactory(slug=slug, name="Peak Performance Gyms")
        self.harnesses: dict[str, ContractHarness] = {
            side: harness_class(kind)(server=server, organization=self.organization)
            for side, kind in zip(SIDES, kinds, strict=True)
        }
        self.connections = {side: harness.connection() for side, harness in self.harnesses.items()}
        self.link: SyncLink | None = None
        self.mirror_failures: list[str] = []

    # --- the CRMs ------------------------------------------------------------------------------------------------
    def harness(self, side: str) -> ContractHarness:
        return self.harnesses[side]

    def written(self) -> dict[str, int]:
        """Records each CRM's API has written since the world began (the emulators' own tally)."""
        return {side: harness.records_written() for side, harness in self.harnesses.items()}

    def record_ids(self, side: str, object: str) -> set[str]:
        return set(self.harness(side).record_ids(object))

    # --- the mirror ----------------------------------------------------------------------------------------------
    def mirror(self, side: str, object: str) -> SyncRun:
        """One mirror run of `object` on `side` (a delta after the first load), with the harness's provider (backoff
        waits recorded or moved on the sandbox's clock, never slept)."""
        harness = self.harness(side)
        run = sync_run(
            organization=self.organization,
            object=object,
            connection=self.connections[side],
            provider=harness.provider(),
        )
        if run.status != SyncRun.Status.OK:
            self.mirror_failures.append(f"{side}:{object} {run.status}: {run.error}")
        return run

    def mirror_all(self) -> None:
        for side, object in self.mirrored_objects():
            self.mirror(side, object)

    def reconcile(self, side: str, object: str) -> SyncRun:
        """One reconciliation of `object` on `side` (a full read of every id; rows it did not list are marked deleted
        by absence, unconfirmed), with the harness's provider."""
        from sync.reconcile import reconcile_run

        return reconcile_run(
            organization=self.organization,
            object=object,
            connection=self.connections[side],
            provider=self.harness(side).provider(),
        )

    def mirrored_objects(self) -> list[tuple[str, str]]:
        link_objects = self.link_objects()
        return [(Side.A, lo.object_a) for lo in link_objects] + [(Side.B, lo.object_b) for lo in link_objects]

    # --- the link ------------------------------------------------------------------------------------------------
    def link_create(self, *objects: Objects, name: str = "two-way") -> SyncLink:
        """A DRAFT link of the two connections, configured through the models as the admin or the tenants file
        would leave it (external id fields from the harnesses)."""
        org = self.organization
        link = SyncLink.objects.create(
            organization=org, name=name, connection_a=self.connections[Side.A], connection_b=self.connections[Side.B]
        )
        for position, spec in enumerate(objects):
            link_object = LinkObject.objects.create(
                organization=org,
                link=link,
                object_a=spec.object_a,
                object_b=spec.object_b,
                external_id_a=self.harness(Side.A).external_id_field,
                external_id_b=self.harness(Side.B).external_id_field,
                match_by=list(spec.match_by),
                deletes=spec.deletes,
                create_a=spec.create_a,
                create_b=spec.create_b,
                archive_a=dict(spec.archive_a),
                archive_b=dict(spec.archive_b),
                position=position,
            )
            for mapping in spec.fields:
                LinkField.objects.create(
                    organization=org,
                    link_object=link_object,
                    field_a=mapping.a,
                    field_b=mapping.b,
                    direction=mapping.direction,
                    conflict=mapping.conflict,
                    clears=mapping.clears,
                    values_a_to_b=dict(mapping.values_a_to_b),
                )
        self.link = link
        return link

    def link_objects(self) -> list[LinkObject]:
        assert self.link is not None, "link_create first"
        return list(LinkObject.objects.for_organization(self.organization).filter(link=self.link))

    def link_object(self, object_a: str) -> LinkObject:
        return next(lo for lo in self.link_objects() if lo.object_a == object_a)

    def link_fields(self, link_object: LinkObject) -> list[LinkField]:
        return list(LinkField.objects.for_organization(self.organization).filter(link_object=link_object))

    def refresh(self) -> SyncLink:
        assert self.link is not None
        self.link = SyncLink.objects.for_organization(self.organization).get(pk=self.link.pk)
        return self.link

    def preview(self) -> dict[str, Any]:
        from links.preview import link_preview

        return link_preview(self.refresh())

    def start(self) -> SyncLink:
        from links.services import link_start

        self.link = link_start(self.refresh())
        return self.link

    def pause(self, reason: str = "") -> SyncLink:
        from links.services import link_pause

        self.link = link_pause(self.refresh(), reason=reason)
        return self.link

    def resume(self) -> SyncLink:
        from links.services import link_resume

        self.link = link_resume(self.refresh())
        return self.link

    def same_person(self, *, a: str, b: str) -> Any:
        """A member of the organization who is CRM user `a` on side A's connection and `b` on side B's (the owner map
        two-way sync converts owners through); the membership."""
        from studios.models import MemberCrmUser
        from tests.factories import MembershipFactory

        membership = MembershipFactory(organization=self.organization)
        for side, crm_user_id in ((Side.A, a), (Side.B, b)):
            MemberCrmUser.unscoped_objects.create(
                organization=self.organization,
                membership=membership,
                connection=self.connections[side],
                crm_user_id=str(crm_user_id),
            )
        return membership

    def apply(self) -> Any:
        from links.apply import link_apply

        return link_apply(self.refresh(), budget_seconds=120)

    # --- quiescence ----------------------------------------------------------------------------------------------
    def quiesce(self, *, max_rounds: int = MAX_ROUNDS) -> Quiet:
        """Rounds of {mirror both sides; apply} until one writes nothing to either CRM and nothing waits (changes
        unprocessed, writes pending or sending). Fails with the link's state when it does not settle."""
        start = self.written()
        for round_number in range(1, max_rounds + 1):
            before = self.written()
            self.mirror_failures = []
            self.mirror_all()
            self.apply()
            self.clock_forward()
            after = self.written()
            if after == before and not self.waiting() and not self.mirror_failures:
                return Quiet(rounds=round_number, written={side: after[side] - start[side] for side in SIDES})
        raise NotQuiet(f"the link did not settle in {max_rounds} rounds\n{self.dump()}")

    def clock_forward(self) -> None:
        """Writes and changes put back for later become due now (backoff after 429/5xx, a lookup waiting): the time
        a real run would wait, skipped."""
        now = timezone.now()
        org = self.organization
        LinkWrite.objects.for_organization(org).filter(
            link=self.link, state=LinkWrite.State.PENDING, next_attempt_at__gt=now
        ).update(next_attempt_at=now)
        LinkChange.objects.for_organization(org).filter(
            link=self.link, processed_at__isnull=True, due_at__gt=now
        ).update(due_at=now)

    def waiting(self) -> dict[str, int]:
        """What the engine still has to do: changes not acted on (but those of records a manager must review first:
        they wait for a person) and writes not sent."""
        from links.models import MatchReview

        org = self.organization
        reviewed = {
            (review.link_object_id, review.side, review.external_id)
            for review in MatchReview.objects.for_organization(org).filter(link=self.link, state=MatchReview.State.OPEN)
        }
        changes = sum(
            1
            for change in LinkChange.objects.for_organization(org).filter(link=self.link, processed_at__isnull=True)
            if (change.link_object_id, change.side, change.external_id) not in reviewed
        )
        writes = (
            LinkWrite.objects.for_organization(org)
            .filter(link=self.link, state__in=[LinkWrite.State.PENDING, LinkWrite.State.SENDING])
            .count()
        )
        return {name: count for name, count in (("changes", changes), ("writes", writes)) if count}

    # --- what the link did ---------------------------------------------------------------------------------------
    def pairs(self, link_object: LinkObject, *, state: str | None = RecordPair.State.LINKED) -> list[RecordPair]:
        pairs = RecordPair.objects.for_organization(self.organization).filter(link_object=link_object)
        return list(pairs.filter(state=state) if state else pairs)

    def writes(self, **filters: Any) -> list[LinkWrite]:
        return list(LinkWrite.objects.for_organization(self.organization).filter(link=self.link, **filters))

    def dump(self) -> str:
        """The link's state, for a failure message: waiting, failed writes, recent writes, mirror failures."""
        org = self.organization
        lines = [f"waiting: {self.waiting()}", f"mirror failures: {self.mirror_failures}"]
        writes = LinkWrite.objects.for_organization(org).filter(link=self.link).order_by("-id")
        for write in writes.exclude(state=LinkWrite.State.DONE)[:15]:
            lines.append(
                f"  write {write.pk} {write.operation} on {write.side} pair {write.pair_id} {write.state} "
                f"attempts={write.attempts} next={write.next_attempt_at} {write.error_code} "
                f"{write.error_message[:200]} "
                f"values={write.values}"
            )
        for write in writes.filter(state=LinkWrite.State.DONE)[:15]:
            lines.append(f"  done {write.pk} {write.operation} on {write.side} pair {write.pair_id} {write.values}")
        changes = LinkChange.objects.for_organization(org).filter(link=self.link, processed_at__isnull=True)
        for change in changes.order_by("id")[:15]:
            lines.append(f"  change {change.pk} {change} due={change.due_at} attempts={change.attempts}")
        return "\n".join(lines)

    # --- both sides under the mapping -----------------------------------------------------------------------------
    def values(self, side: str, object: str, record_id: str, names: Iterable[str]) -> dict[str, Any] | None:
        """The record's values of `names` as the CRM holds them (read through the harness), normalized for
        comparison; None when the record is gone."""
        record = self.harness(side).read_record(object, record_id)
        if record is None:
            return None
        return {name: comparable(name, record.get(name)) for name in names}

    def differences(self, link_object: LinkObject, *, fields: Iterable[LinkField] | None = None) -> list[str]:
        """Where the two sides of a linked pair disagree under the link's rules: a field flowing both ways (or A to
        B, B to A) must hold the same value on both sides, mapped through its picklist map; an empty value opposite
        a filled one is agreement when the field does not clear (empty never overwrites). [] when they agree."""
        link_fields = list(fields if fields is not None else self.link_fields(link_object))
        problems = []
        for pair in self.pairs(link_object):
            if not pair.id_a or not pair.id_b:
                problems.append(f"pair {pair.pk} has no record on one side: {pair}")
                continue
            a = self.values(Side.A, link_object.object_a, pair.id_a, [f.field_a for f in link_fields])
            b = self.values(Side.B, link_object.object_b, pair.id_b, [f.field_b for f in link_fields])
            if a is None or b is None:
                problems.append(f"pair {pair} is linked but a record is gone (a={a is not None}, b={b is not None})")
                continue
            for link_field in link_fields:
                value_a, value_b = a[link_field.field_a], b[link_field.field_b]
                if link_field.values_a_to_b and value_a is not None:
                    value_a = link_field.values_a_to_b.get(value_a, value_a)
                if value_a == value_b:
                    continue
                if not link_field.clears and (value_a is None or value_b is None):
                    continue
                problems.append(f"pair {pair}: {link_field} differ: a={value_a!r} b={value_b!r}")
        return problems


def comparable(name: str, value: Any) -> Any:
    """A CRM's value in a form both sides can be compared in: text stripped, empty as None, e-mails lower-cased,
    phones in E.164 where they are dialable (each CRM keeps the format it was given)."""
    if isinstance(value, dict):  # a lookup or owner: its id
        value = value.get("id") or value.get("value")
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if EMAIL_NAME.search(name):
            return value.lower()
        if PHONE_NAME.search(name):
            return e164_or_blank(value, "US") or value
    return value


# --- the scenarios every pair of CRMs runs (tests/links/test_two_way_<a>_<b>.py) -------------------------------------
@dataclass(frozen=True)
class Roles:
    """The vendor names of the fields the scenarios use, per side, and the values each CRM needs to create a record
    (Salesforce's Company on a lead). `title` flows both ways, side B winning conflicts, and clears; `phone` flows
    both ways and clears; `first` and `last` flow both ways, the latest change winning, and never clear; `city`
    flows from A to B only."""

    object_a: str
    object_b: str
    first: tuple[str, str]
    last: tuple[str, str]
    email: tuple[str, str]
    phone: tuple[str, str]
    title: tuple[str, str]
    city: tuple[str, str]
    company: tuple[str, str] | None = None

    def objects(self) -> Objects:
        fields = [
            Field(*self.first),
            Field(*self.last),
            Field(*self.email),
            Field(*self.phone, clears=True),
            Field(*self.title, conflict=LinkField.Conflict.B_WINS, clears=True),
            Field(*self.city, direction=LinkField.Direction.A_TO_B),
        ]
        if self.company:
            fields.append(Field(*self.company))
        return Objects(self.object_a, self.object_b, fields=fields)

    def name(self, role: str, side: str) -> str:
        names = getattr(self, role)
        return names[0] if side == Side.A else names[1]

    def record(self, side: str, **values: Any) -> dict[str, Any]:
        """Vendor values of a record from role values (first="Ana", email=...), with what the CRM needs to create."""
        record = {self.name(role, side): value for role, value in values.items() if value is not None}
        if self.company and self.name("company", side) not in record:
            record[self.name("company", side)] = "Peak Performance Gyms"
        return record


def phone_number(number: int) -> str:
    """A dialable US number (Denver), unique per `number` below 10,000."""
    return f"+1303421{number:04d}"


def typed(e164: str, style: int) -> str:
    """The same number in a format people type."""
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return (f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}", f"+1 {area} {exchange} {line}", e164)[style % 4]


def counts_of(preview: Mapping[str, Any], link_object: LinkObject) -> Mapping[str, Any]:
    """The preview's counts for one LinkObject, however the preview nests them (by id, by "a ⇄ b", or a list)."""
    objects = preview.get("objects", preview)
    if isinstance(objects, Mapping):
        for key in (
            str(link_object.pk),
            link_object.pk,
            str(link_object),
            f"{link_object.object_a}:{link_object.object_b}",
        ):
            if key in objects:
                return objects[key]
        if len(objects) == 1:
            return next(iter(objects.values()))
    if isinstance(objects, list):
        for entry in objects:
            if entry.get("id") == link_object.pk or entry.get("link_object") == link_object.pk:
                return entry
        if len(objects) == 1:
            return objects[0]
    raise AssertionError(f"no counts for {link_object} in the preview: {preview}")


def tick(world: World, seconds: float = 1.01) -> None:
    """The sandbox's clock moves on (CRMs whose modified times have whole seconds stamp the next edit later)."""
    requests_post(world.server, "clock", {"advance_seconds": seconds})


def requests_post(server: Any, path: str, body: Mapping[str, Any]) -> Any:
    import requests

    answer = requests.post(f"{server.url}/_sandbox/{path}", json=dict(body), timeout=30)
    assert answer.status_code < 400, f"{path}: {answer.status_code} {answer.text[:500]}"
    return answer.json() if answer.content else None


def faults_clear(world: World) -> list[dict[str, Any]]:
    """The sandbox's fault rules (how often each fired), cleared."""
    import requests

    answer = requests.get(f"{world.server.url}/_sandbox/faults", timeout=30)
    requests.delete(f"{world.server.url}/_sandbox/faults", timeout=30)
    return answer.json()


def first_sync_overlap(world: World, roles: Roles) -> None:
    """Overlapping data on both sides: the preview counts it right; after the start nothing is duplicated, the
    ambiguous record is listed for review and never merged, and both sides agree; a second quiescence writes nothing.

    A holds: 6 people B holds under the same e-mail (other case, other title), 4 B holds under the same phone only
    (another format, no e-mail on B), 1 whose phone two of B's records share (ambiguous), 8 only A has.
    B holds those 6 + 4 + 2, and 7 only B has."""
    from links.models import MatchReview

    a, b = world.harness(Side.A), world.harness(Side.B)
    oa, ob = roles.object_a, roles.object_b
    number = iter(range(1, 10_000))
    by_email, by_phone = [], []
    first_names: dict[tuple[str, str], str] = {}  # the first name each e-mail pair must end with
    for n in range(6):
        k = next(number)
        values_a = roles.record(
            Side.A, first=f"Ana{n}", last=f"Email{n}", email=f"Ana.Email{n}@Example.test", title="Coach"
        )
        values_b = roles.record(
            Side.B, first=f"Anna{n}", last=f"Email{n}", email=f"ana.email{n}@example.test", title=f"Trainer {k}"
        )
        if n % 2:  # B's record first: A's first name is the later change and wins (the most recent change wins)
            idb = b.create_record(ob, values_b)
            tick(world)
            ida = a.create_record(oa, values_a)
        else:
            ida = a.create_record(oa, values_a)
            tick(world)
            idb = b.create_record(ob, values_b)
        first_names[(ida, idb)] = f"Ana{n}" if n % 2 else f"Anna{n}"
        by_email.append((ida, idb))
    for n in range(4):
        phone = phone_number(next(number))
        ida = a.create_record(
            oa, roles.record(Side.A, first=f"Ben{n}", last=f"Phone{n}", email=f"ben{n}@a.test", phone=typed(phone, 0))
        )
        idb = b.create_record(ob, roles.record(Side.B, first=f"Ben{n}", last=f"Phone{n}", phone=typed(phone, 2)))
        by_phone.append((ida, idb))
    shared = phone_number(next(number))
    ambiguous_a = a.create_record(
        oa, roles.record(Side.A, first="Cy", last="Twice", email="cy@a.test", phone=typed(shared, 1))
    )
    ambiguous_b = [
        b.create_record(ob, roles.record(Side.B, first="Cy", last=f"Twice{n}", phone=typed(shared, n)))
        for n in range(2)
    ]
    for n in range(8):
        a.create_record(
            oa,
            roles.record(
                Side.A,
                first=f"Dee{n}",
                last=f"OnlyA{n}",
                email=f"dee{n}@a.test",
                phone=typed(phone_number(next(number)), n),
                city="Denver",
            ),
        )
    for n in range(7):
        b.create_record(ob, roles.record(Side.B, first=f"Eve{n}", last=f"OnlyB{n}", email=f"eve{n}@b.test"))
    before = {Side.A: world.record_ids(Side.A, oa), Side.B: world.record_ids(Side.B, ob)}
    assert (len(before[Side.A]), len(before[Side.B])) == (19, 19)

    world.link_create(roles.objects())
    link_object = world.link_object(oa)
    world.mirror_all()
    assert not world.mirror_failures, world.mirror_failures
    written = world.written()
    counts = counts_of(world.preview(), link_object)
    assert world.written() == written  # the preview writes nothing
    assert counts["matched"] == 10, counts
    assert (counts["create_a"], counts["create_b"]) == (7, 8), counts
    assert counts["ambiguous"] >= 1, counts

    world.start()
    quiet = world.quiesce()
    after = {Side.A: world.record_ids(Side.A, oa), Side.B: world.record_ids(Side.B, ob)}
    assert len(after[Side.A]) == 19 + 7, "nothing created twice on A, the ambiguous record's matches not created"
    assert len(after[Side.B]) == 19 + 8, "nothing created twice on B, the ambiguous record not created"
    for side, object, role in ((Side.A, oa, "email"), (Side.B, ob, "email")):
        emails = [world.values(side, object, rid, [roles.name(role, side)]) for rid in after[side]]
        found = [v[roles.name(role, side)] for v in emails if v and v[roles.name(role, side)]]
        assert len(found) == len(set(found)), f"an e-mail twice on side {side}: {sorted(found)}"

    pairs = world.pairs(link_object)
    held_a = {pair.id_a for pair in pairs}
    held_b = {pair.id_b for pair in pairs}
    for ida, idb in by_email + by_phone:
        assert any(p.id_a == ida and p.id_b == idb for p in pairs), f"{ida} ⇄ {idb} not paired"
    assert ambiguous_a not in held_a, "an ambiguous match was merged"
    assert not set(ambiguous_b) & held_b, "an ambiguous match was merged"
    reviews = list(MatchReview.objects.for_organization(world.organization).filter(link_object=link_object))
    open_reviews = [r for r in reviews if r.state == MatchReview.State.OPEN]
    listed = {(r.side, r.external_id) for r in open_reviews}
    assert (Side.A, ambiguous_a) in listed or all((Side.B, rid) in listed for rid in ambiguous_b), reviews
    review_a = next((r for r in open_reviews if r.side == Side.A and r.external_id == ambiguous_a), None)
    if review_a is not None:
        assert set(review_a.candidates) == set(ambiguous_b)

    assert not world.differences(link_object), world.differences(link_object)
    for (ida, idb), first in first_names.items():
        held = (
            world.values(Side.A, oa, ida, [roles.name("first", Side.A)]),
            world.values(Side.B, ob, idb, [roles.name("first", Side.B)]),
        )
        assert held == ({roles.name("first", Side.A): first}, {roles.name("first", Side.B): first}), (first, held)
    creates = world.writes(operation=LinkWrite.Operation.CREATE, state=LinkWrite.State.DONE)
    assert len(creates) == 15
    # What the data needs written, each once: 15 creates; on A the 6 e-mail pairs' titles (B's wins) with the first
    # names B won; on B the 3 first names A won and the 4 phone pairs' e-mails (B had none).
    assert quiet.total <= 15 + 6 + 3 + 4, f"{quiet}: a record written more often than its changes need\n{world.dump()}"
    assert world.quiesce().total == 0, "a second quiescence wrote: a loop"
    assert len(world.record_ids(Side.A, oa)) == 26
    assert len(world.record_ids(Side.B, ob)) == 27


def linked_pairs(world: World, roles: Roles, count: int) -> tuple[LinkObject, list[RecordPair]]:
    """`count` people (half made on A, half on B, with every field filled), linked by a first sync and settled."""
    a, b = world.harness(Side.A), world.harness(Side.B)
    for n in range(count):
        side = Side.A if n % 2 == 0 else Side.B
        harness = a if side == Side.A else b
        object = roles.object_a if side == Side.A else roles.object_b
        values = dict(
            first=f"Fay{n}",
            last=f"Linked{n}",
            email=f"fay{n}@peak.test",
            phone=typed(phone_number(n), n),
            title=f"Member {n}",
        )
        if side == Side.A:
            values["city"] = "Boulder"
        harness.create_record(object, roles.record(side, **values))
    world.link_create(roles.objects())
    link_object = world.link_object(roles.object_a)
    world.mirror_all()
    world.start()
    world.quiesce()
    pairs = world.pairs(link_object)
    assert len(pairs) == count, world.dump()
    assert all(p.id_a and p.id_b for p in pairs), world.dump()
    assert not world.differences(link_object), world.differences(link_object)
    return link_object, pairs


def concurrent_edits(world: World, roles: Roles, *, seed: int = 18, rounds: int = 3, per_round: int = 8) -> None:
    """Randomized edits on both sides (a fixed seed): one field, the same field on both sides within one second,
    clears, deletes; with 429 and 503 answers to writes and revoked access tokens. After each quiescence both sides
    agree under the rules (empty never overwrites, conflicts by the field's rule), the CRMs wrote at most one record
    per record and side a change needed, nothing is duplicated, and a second quiescence writes nothing."""
    import random

    from links.models import LinkConflict

    link_object, pairs = linked_pairs(world, roles, 16)
    by_pk = {pair.pk: pair for pair in pairs}
    live = sorted(by_pk)
    rng = random.Random(seed)
    objects = {Side.A: roles.object_a, Side.B: roles.object_b}
    fields = {lf.field_a: lf for lf in world.link_fields(link_object)}
    counter = iter(range(1, 100_000))

    def other(side: str) -> str:
        return Side.B if side == Side.A else Side.A

    def edit(pair: RecordPair, side: str, role: str, value: Any) -> None:
        world.harness(side).edit_record(objects[side], pair.record_id(side), {roles.name(role, side): value})

    def read(pair: RecordPair, side: str, role: str) -> Any:
        values = world.values(side, objects[side], pair.record_id(side), [roles.name(role, side)])
        return None if values is None else values[roles.name(role, side)]

    def new_value(role: str) -> str:
        k = next(counter)
        return typed(phone_number(5000 + k), k) if role == "phone" else f"{role.title()} {k}"

    for round_number in range(rounds):
        tick(world)
        expected: list[tuple[int, str, str, Any, Any]] = []  # (pair, role, kind, value on A, value on B)
        touched: set[tuple[int, str]] = set()
        gone: list[int] = []
        for pk in rng.sample(live, per_round):
            pair = by_pk[pk]
            op = rng.choice(("edit", "edit", "edit", "both", "both", "clear", "delete"))
            side = rng.choice(SIDES)
            if op == "edit":
                role = rng.choice(("first", "last", "phone", "title") + (("city",) if side == Side.A else ()))
                value = new_value(role)
                edit(pair, side, role, value)
                expected.append((pk, role, "value", value, value))
                touched.add((pk, other(side)))
            elif op == "both":  # the same field on both sides within one second
                role = rng.choice(("first", "last", "title"))
                value_a, value_b = new_value(role), new_value(role)
                edit(pair, Side.A, role, value_a)
                edit(pair, Side.B, role, value_b)
                expected.append((pk, role, "conflict", value_a, value_b))
                touched.update({(pk, Side.A), (pk, Side.B)})
            elif op == "clear":
                role = rng.choice(("phone", "first"))  # phone clears; first never does (empty never overwrites)
                kept = read(pair, other(side), role)
                edit(pair, side, role, "")
                if role == "phone":
                    expected.append((pk, role, "value", None, None))
                    touched.add((pk, other(side)))
                else:
                    expected.append((pk, role, "kept", *((None, kept) if side == Side.A else (kept, None))))
            else:
                world.harness(side).delete_record(objects[side], pair.record_id(side))
                gone.append(pk)
                touched.add((pk, other(side)))
        world.harness(Side.A).fail_writes(status=429, times=2)
        world.harness(Side.B).fail_writes(status=503, times=1)
        if round_number == 1:
            for harness in world.harnesses.values():
                harness.revoke_access_tokens()
        quiet = world.quiesce()

        problems = []
        for pk, role, kind, value_a, value_b in expected:
            pair = by_pk[pk]
            now_a, now_b = read(pair, Side.A, role), read(pair, Side.B, role)
            if kind == "conflict":
                link_field = fields[roles.name(role, Side.A)]
                conflicts = list(
                    LinkConflict.objects.for_organization(world.organization).filter(pair_id=pk, link_field=link_field)
                )
                if link_field.conflict == LinkField.Conflict.B_WINS:
                    winner = Side.B
                else:
                    assert conflicts, f"no conflict logged for {role} of {pair} (a={value_a!r}, b={value_b!r})"
                    winner = conflicts[-1].winner
                won = comparable(roles.name(role, winner), value_a if winner == Side.A else value_b)
                if (now_a, now_b) != (won, won):
                    problems.append(
                        f"{pair} {role}: conflict won by {winner} with {won!r}, sides hold {now_a!r}/{now_b!r}"
                    )
                continue
            want = (comparable(roles.name(role, Side.A), value_a), comparable(roles.name(role, Side.B), value_b))
            if (now_a, now_b) != want:
                problems.append(f"{pair} {role} ({kind}): want {want!r}, sides hold {(now_a, now_b)!r}")
        for pk in gone:
            pair = by_pk[pk]
            held = [side for side in SIDES if world.harness(side).read_record(objects[side], pair.record_id(side))]
            if held:
                problems.append(f"{pair} deleted on one side, still held on {held}")
            live.remove(pk)
        assert not problems, "\n".join(problems) + "\n" + world.dump()
        assert not world.differences(link_object), world.differences(link_object)
        failed = world.writes(state=LinkWrite.State.FAILED)
        assert not failed, world.dump()
        assert quiet.total <= len(touched), f"round {round_number}: {quiet} for {len(touched)} records to write"
        faults = faults_clear(world)
        assert sum(rule["fired"] for rule in faults if rule.get("status") in (429, 503)), (
            f"no write met a fault: {faults}"
        )
        for side in SIDES:
            assert len(world.record_ids(side, objects[side])) == len(live), f"records duplicated or lost on {side}"
        assert world.quiesce().total == 0, "a second quiescence wrote: a loop"


def refused_write(world: World, roles: Roles) -> None:
    """A write side B's validation rule refuses: a FAILED write with the CRM's message; the rule fixed and the
    write retried, it is DONE and both sides agree."""
    from links.writer import write_retry

    link_object, pairs = linked_pairs(world, roles, 4)
    pair = pairs[0]
    message = "Job titles come from the HR list: ask Dana"
    world.harness(Side.B).refuse_writes(roles.object_b, field=roles.name("title", Side.B), message=message)
    tick(world)
    world.harness(Side.A).edit_record(roles.object_a, pair.id_a, {roles.name("title", Side.A): "Head Coach"})
    quiet = world.quiesce()
    assert quiet.written[Side.B] == 0
    failed = world.writes(state=LinkWrite.State.FAILED)
    assert [(w.side, w.pair_id) for w in failed] == [(Side.B, pair.pk)], world.dump()
    assert message in failed[0].error_message, failed[0].error_message
    assert not failed[0].transient

    world.harness(Side.B).allow_writes(roles.object_b)
    write_retry(failed[0])
    quiet = world.quiesce()
    assert quiet.written == {Side.A: 0, Side.B: 1}, quiet
    again = world.writes(pk=failed[0].pk)[0]
    assert again.state == LinkWrite.State.DONE, world.dump()
    values = world.values(Side.B, roles.object_b, pair.id_b, [roles.name("title", Side.B)])
    assert values == {roles.name("title", Side.B): "Head Coach"}
    assert not world.differences(link_object), world.differences(link_object)


def echo_suppressed(world: World, roles: Roles, *, source_tag: tuple[bool, bool]) -> None:
    """A person's edit on one side is written once to the other; that write, read back by the other side's mirror,
    is known as ours (by the hash of what we wrote, and by the CRM's source tag where it has one: `source_tag` per
    side) and writes nothing more, in either direction."""
    link_object, pairs = linked_pairs(world, roles, 4)
    for side, pair in ((Side.A, pairs[0]), (Side.B, pairs[1])):
        target = Side.B if side == Side.A else Side.A
        object = roles.object_a if side == Side.A else roles.object_b
        changes = LinkChange.objects.for_organization(world.organization).filter(link=world.link)
        last_change = changes.order_by("-id").values_list("id", flat=True).first() or 0
        tick(world)
        world.harness(side).edit_record(object, pair.record_id(side), {roles.name("title", side): f"Echo {side}"})
        quiet = world.quiesce()
        assert quiet.written == {side: 0, target: 1}, f"{quiet}\n{world.dump()}"
        changes = list(
            LinkChange.objects.for_organization(world.organization).filter(link=world.link, id__gt=last_change)
        )
        person = [c for c in changes if c.side == side and c.external_id == pair.record_id(side)]
        echo = [c for c in changes if c.side == target and c.external_id == pair.record_id(target)]
        assert person, "the person's edit reached the link"
        assert echo, "our write came back through the mirror (the test needs it to)"
        tagged = source_tag[0] if target == Side.A else source_tag[1]
        assert all(c.by_us is (True if tagged else None) for c in echo), [(c.pk, c.by_us) for c in echo]
        by_person = False if (source_tag[0] if side == Side.A else source_tag[1]) else None
        assert all(c.by_us is by_person for c in person), [(c.pk, c.by_us) for c in person]
        assert world.quiesce().total == 0
    assert not world.differences(link_object), world.differences(link_object)
