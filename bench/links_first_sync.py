"""Benchmark: the first sync of a two-way link between two emulated CRMs, and its steady-state lag (issue 18).

Zoho CRM (side A) and HubSpot (side B) on one sandbox, in a thread of this process, each holding `--records`
contacts, `--overlap` of them the same people on both sides (the same e-mail): a third identical, a third with
another job title on each side (a conflict: one write, to the side that loses), a third whose phone only Zoho has
(one write, to HubSpot). The others exist on one side only (a create on the other). Both sides are mirrored by the
real mirror (`sync_run`, cold), then the link (contact ⇄ contact: first and last name, e-mail, phone, title both
ways, city Zoho → HubSpot) is previewed and started, and `link_apply` runs until nothing is pending: the first sync.
One more round mirrors both sides (our writes coming back) and applies again: it must write nothing.

- records/s of the first sync: the records of both sides over the time from the start to the last write done (and
  to settled, with the round that reads our writes back);
- writes issued (LinkWrites sent, and the records the emulators tallied) against the least the data needs: a create
  on each side for each record only the other has, one update per differing pair;
- the baseline, measured in the same run (last, so the link never sees its records): the same records written
  straight through the providers' `upsert_many` and `update_many` (the creates under new external ids and e-mails,
  so they create again), no link engine: what the writes alone cost. Ratio = baseline seconds / first sync
  seconds (1.0: the link costs nothing beyond its writes).
- steady state: a person changes one linked contact's title `--rate` times a second for `--lag-seconds`, on either
  side at random, while the bench mirrors both sides and applies the link every `--interval` seconds (the sync
  interval); lag = the write done on the other side minus the person's edit, p50 and p99.

    python -m bench.links_first_sync [--records 50000] [--overlap 0.3] [--lag-seconds 60] [--rate 10] [--interval 5]

Uses BENCH_LINKS_DATABASE (default leadline_bench_links), dropped and re-created, its database cache (no Redis) and
a filesystem broker in a temporary folder (the apply tasks the engine enqueues are never consumed: the bench applies).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ["BENCH_SYNC_DATABASE"] = os.environ.get("BENCH_LINKS_DATABASE", "leadline_bench_links")
os.environ.setdefault("CELERY_FILESYSTEM_BROKER_DIR", tempfile.mkdtemp(prefix="bench-links-broker-"))
os.environ.setdefault("HUBSPOT_SEARCH_PER_SECOND", "10000000")  # the emulator's limits are raised too

import django

from bench import mirror_report as report
from bench import sync_mirror as base

RESULTS = Path(__file__).parent / "results" / "links_first_sync.txt"
OBJECT = "contact"
UNLIMITED = 10_000_000
# (role, Zoho's field, HubSpot's property)
FIELDS = (
    ("first", "First_Name", "firstname"),
    ("last", "Last_Name", "lastname"),
    ("email", "Email", "email"),
    ("phone", "Phone", "phone"),
    ("title", "Title", "jobtitle"),
    ("city", "Mailing_City", "city"),
)
ZOHO = {role: name for role, name, _ in FIELDS}
HUBSPOT = {role: name for role, _, name in FIELDS}
FIRST = ("Ana", "Ben", "Chloe", "Diego", "Elif", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Marco")
LAST = ("Alvarez", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski")


# --- the two CRMs ---------------------------------------------------------------------------------------------------
class Crms:
    """The Zoho org of the sandbox's empty world and a HubSpot portal made for the bench, seeded through their state."""

    def __init__(self, server: Any) -> None:
        from bench.hubspot_portal import EmulatedPortal
        from bench.sync_mirror_hubspot import limits
        from sandbox.hubspot.seed import add_external_id_property

        self.server = server
        limits(server.state, real=False)
        self.zoho = next(iter(server.state.crm.orgs.values()))
        self.contacts = self.zoho.modules["Contacts"]
        self.hubspot = EmulatedPortal(server, name="Bench Two-Way")
        add_external_id_property(self.hubspot.portal)

    def seed(self, count: int, overlap: float) -> dict[str, int]:
        """`count` contacts on each side, `overlap` of them the same people; what the first sync must write."""
        now = self.zoho.now()
        start, step = now - timedelta(days=30), timedelta(days=29) / max(count, 1)
        shared = int(count * overlap)
        person = self.zoho.admin
        rows_b = []
        need = {"create_a": count - shared, "create_b": count - shared, "update_a": 0, "update_b": 0}
        for n in range(count):
            at = start + step * n
            a = _person(n)
            b = _person(n) if n < shared else _person(count + n)
            if n < shared and n % 3 == 1:  # another title on each side: a conflict, one write to the older side
                a["title"], b["title"] = "Coach", "Trainer"
                need["update_b" if n % 2 else "update_a"] += 1
                at_b = at + timedelta(seconds=1 if n % 2 == 0 else -1)
            else:
                at_b = at
            if n < shared and n % 3 == 2:  # only Zoho has the phone: one write to HubSpot
                b["phone"] = ""
                need["update_b"] += 1
            self.contacts.insert({ZOHO[k]: v for k, v in a.items() if v}, by_user=person, at=at, notify=False)
            properties = {HUBSPOT[k]: v for k, v in b.items() if v}
            rows_b.append(self.hubspot.portal.new_record("contacts", properties, at=at_b, created_at=at_b))
        self.hubspot.portal.put_rows("contacts", rows_b)
        return need

    def edit(self, side: str, record_id: str, title: str) -> None:
        """A person changes a contact's title in the CRM's UI, now."""
        from sandbox.hubspot.state_changes import Source

        if side == "a":
            self.contacts.update(record_id, {ZOHO["title"]: title}, by_user=self.zoho.admin, notify=False)
        else:
            self.hubspot.portal.update(
                "contacts", record_id, {HUBSPOT["title"]: title}, source=Source.ui(), notify=False
            )

    def records_written(self) -> int:
        """What both emulators tallied as records written by their APIs (the sandbox's counters)."""
        import requests

        counters = requests.get(f"{self.server.url}/_sandbox/counters", timeout=30).json()
        return sum(int(value) for key, value in counters.items() if "records_written" in key)


def _person(n: int) -> dict[str, str]:
    first, last = FIRST[n % len(FIRST)], f"{LAST[n % len(LAST)]}-{n}"
    return {
        "first": first,
        "last": last,
        "email": f"{first}.{last}@peak.test".lower(),
        "phone": f"+1303{2000000 + n:07d}",
        "title": "Member",
        "city": "Denver",
    }


# --- the organization and its link ------------------------------------------------------------------------------------
def link_create(crms: Crms) -> Any:
    from links.models import LinkField, LinkObject, SyncLink
    from sandbox import worlds
    from studios.models import Organization, ProviderAccount

    organization = Organization.objects.create(slug="bench-links", name="Bench Gyms")
    zoho = ProviderAccount.unscoped_objects.create(
        organization=organization,
        name="bench-zoho",
        kind="zoho_crm",
        is_default=True,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
        accounts_url=crms.server.url,
        api_domain=crms.server.url,
        custom_endpoints=True,
    )
    from bench.hubspot_portal import CLIENT_ID, CLIENT_SECRET

    hubspot = ProviderAccount.unscoped_objects.create(
        organization=organization,
        name="bench-hubspot",
        kind="hubspot",
        is_default=True,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=crms.hubspot.refresh_token,
        accounts_url=crms.server.url,
        api_domain=crms.server.url,
        custom_endpoints=True,
    )
    link = SyncLink.objects.create(
        organization=organization, name="zoho-hubspot", connection_a=zoho, connection_b=hubspot
    )
    link_object = LinkObject.objects.create(
        organization=organization,
        link=link,
        object_a=OBJECT,
        object_b=OBJECT,
        external_id_a="Leadline_Id",
        external_id_b="leadline_id",
        match_by=["external_id", "email", "phone"],
    )
    for role, field_a, field_b in FIELDS:
        LinkField.objects.create(
            organization=organization,
            link_object=link_object,
            field_a=field_a,
            field_b=field_b,
            direction=LinkField.Direction.A_TO_B if role == "city" else LinkField.Direction.BOTH,
        )
    return link


def mirror(link: Any) -> float:
    """One mirror run of the contacts of both sides; its seconds."""
    from sync.delta import sync_run
    from sync.models import SyncRun

    started = time.perf_counter()
    for connection in (link.connection_a, link.connection_b):
        run = sync_run(organization=link.organization, object=OBJECT, connection=connection)
        if run.status != SyncRun.Status.OK:
            raise SystemExit(f"mirror run of {connection} failed: {run.error}")
    return time.perf_counter() - started


def apply_all(link: Any) -> int:
    """`link_apply` until nothing is pending (it stops at its time budget); the calls it took."""
    from links.apply import link_apply

    calls = 0
    while True:
        calls += 1
        outcome = link_apply(link)
        if not pending(link) or calls > 1000:
            return calls
        if not (getattr(outcome, "planned", 1) or getattr(outcome, "sent", 1)):
            time.sleep(0.2)  # only writes waiting for their backoff


def disagreements(crms: Crms, link: Any) -> tuple[int, list[str]]:
    """Linked pairs whose two records hold different values of a linked field (read in the emulators' state; empty
    opposite a value is agreement, as no field of the link clears), and a few examples."""
    from core.phone import e164_or_blank
    from links.models import RecordPair

    def clean(role: str, value: Any) -> Any:
        value = (value or "").strip() if isinstance(value, str) or value is None else value
        if role == "email":
            return value.lower()
        return e164_or_blank(value, "US") or value if role == "phone" and value else value

    pairs = RecordPair.objects.for_organization(link.organization).filter(link=link, state=RecordPair.State.LINKED)
    count, examples = 0, []
    for id_a, id_b in pairs.values_list("id_a", "id_b"):
        a, b = crms.contacts.get(id_a), crms.hubspot.portal.get("contacts", id_b)
        if a is None or b is None:
            count += 1
            examples.append(f"{id_a} ⇄ {id_b}: a record is gone")
            continue
        held = {
            role: (clean(role, a.get(ZOHO[role])), clean(role, b["properties"].get(HUBSPOT[role]))) for role in ZOHO
        }
        # No field of this link clears: an empty value opposite a filled one is as the rules leave it.
        differ = [f"{role} {va!r}/{vb!r}" for role, (va, vb) in held.items() if va and vb and va != vb]
        if differ:
            count += 1
            if len(examples) < 3:
                examples.append(f"{id_a} ⇄ {id_b}: {', '.join(differ)}")
    return count, examples


def pending(link: Any) -> int:
    from links.models import LinkChange, LinkWrite

    changes = LinkChange.objects.for_organization(link.organization).filter(link=link, processed_at__isnull=True)
    writes = LinkWrite.objects.for_organization(link.organization).filter(
        link=link, state__in=[LinkWrite.State.PENDING, LinkWrite.State.SENDING]
    )
    return changes.count() + writes.count()


def writes_done(link: Any, **filters: Any) -> list[Any]:
    from links.models import LinkWrite

    return list(
        LinkWrite.objects.for_organization(link.organization).filter(link=link, state=LinkWrite.State.DONE, **filters)
    )


# --- the baseline: the same records, straight through the providers ---------------------------------------------
def baseline(link: Any, writes: list[Any]) -> tuple[float, int]:
    """The first sync's writes again, straight through upsert_many / update_many (creates under new external ids);
    seconds and records written."""
    from crm.registry import provider_for
    from links.models import LinkObject, LinkWrite

    link_object = LinkObject.objects.for_organization(link.organization).get(link=link)
    started, count = time.perf_counter(), 0
    for side, connection, id_field in (
        ("a", link.connection_a, link_object.external_id_a),
        ("b", link.connection_b, link_object.external_id_b),
    ):
        provider = provider_for(connection)
        creates = [
            {**_another_person(w.values), id_field: str(uuid.uuid4())}
            for w in writes
            if w.side == side and w.operation == LinkWrite.Operation.CREATE
        ]
        updates = [
            (w.pair.record_id(side), w.values)
            for w in writes
            if w.side == side and w.operation == LinkWrite.Operation.UPDATE
        ]
        if creates:
            results = provider.upsert_many(object=OBJECT, external_id_field=id_field, rows=creates)
            count += sum(1 for result in results if not result.error)
        if updates:
            results = provider.update_many(object=OBJECT, updates=updates)
            count += sum(1 for result in results if not result.error)
    return time.perf_counter() - started, count


def _another_person(values: dict[str, Any]) -> dict[str, Any]:
    """The same values under another e-mail (HubSpot refuses a second contact with an e-mail it holds)."""
    return {
        name: f"baseline.{value}" if name in (ZOHO["email"], HUBSPOT["email"]) else value
        for name, value in values.items()
    }


# --- steady state ----------------------------------------------------------------------------------------------
def steady(crms: Crms, link: Any, *, seconds: float, rate: float, interval: float, seed: int = 18) -> dict[str, Any]:
    """People edit titles at `rate` a second for `seconds` while the bench mirrors and applies every `interval`
    seconds; the lag of each edit's write, from the edit to the write done."""
    from links.models import RecordPair

    pairs = list(
        RecordPair.objects.for_organization(link.organization)
        .filter(link=link, state=RecordPair.State.LINKED)
        .exclude(id_a="")
        .exclude(id_b="")
        .values_list("id_a", "id_b")
    )
    rng = random.Random(seed)  # noqa: S311 (benchmark data)
    edits: dict[str, float] = {}  # title -> when it was typed (epoch seconds)
    stop = threading.Event()

    def people() -> None:
        number, started = 0, time.time()
        while not stop.is_set() and time.time() - started < seconds:
            id_a, id_b = rng.choice(pairs)
            side = rng.choice(("a", "b"))
            title = f"Steady {number}"
            edits[title] = time.time()
            crms.edit(side, id_a if side == "a" else id_b, title)
            number += 1
            time.sleep(max(0.0, started + number / rate - time.time()))

    marker = max((w.pk for w in writes_done(link)), default=0)
    driver = threading.Thread(target=people, daemon=True)
    driver.start()
    rounds, round_seconds = 0, []
    deadline = time.time() + seconds + 4 * interval
    while time.time() < deadline:
        next_round = time.time() + interval
        started = time.perf_counter()
        mirror(link)
        apply_all(link)
        round_seconds.append(time.perf_counter() - started)
        rounds += 1
        if not driver.is_alive() and not pending(link):
            break
        time.sleep(max(0.0, next_round - time.time()))
    stop.set()
    driver.join()
    lags = []
    written = 0
    for write in writes_done(link, pk__gt=marker):
        for value in write.values.values():
            if isinstance(value, str) and value in edits:
                lags.append(write.done_at.timestamp() - edits[value])
                written += 1
    lags.sort()
    return {
        "edits": len(edits),
        "written": written,
        "rounds": rounds,
        "round_p50": statistics.median(round_seconds) if round_seconds else 0.0,
        "p50": _quantile(lags, 0.5),
        "p99": _quantile(lags, 0.99),
        "max": lags[-1] if lags else 0.0,
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


# --- main ------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="contacts on each side")
    parser.add_argument("--overlap", type=float, default=0.3)
    parser.add_argument("--lag-seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10, help="edits a second in the steady state")
    parser.add_argument("--interval", type=float, default=5, help="seconds between mirror runs (the sync interval)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    django.setup()
    from sandbox.server import SandboxServer

    for module in ("apply", "writer", "planner", "matching", "services", "tasks", "receivers", "conversions"):
        __import__(f"links.{module}")  # the engine as it is now, whatever its files become during a long run

    out = report.Report()
    base.fresh_database()
    with SandboxServer(world="empty") as server:
        crms = Crms(server)
        started = time.perf_counter()
        need = crms.seed(args.records, args.overlap)
        seed_seconds = time.perf_counter() - started
        link = link_create(crms)
        cold = mirror(link)

        from links.preview import link_preview
        from links.services import link_start

        started = time.perf_counter()
        preview = link_preview(link)["objects"][0]
        preview_seconds = time.perf_counter() - started
        written_before = crms.records_written()
        started = time.perf_counter()
        link = link_start(link)
        start_seconds = time.perf_counter() - started
        apply_calls = apply_all(link)
        first_seconds = time.perf_counter() - started
        first_writes = writes_done(link)
        written_first = crms.records_written() - written_before
        echo_started = time.perf_counter()
        mirror(link)
        apply_all(link)
        echo_seconds = time.perf_counter() - echo_started
        echo_writes = len(writes_done(link)) - len(first_writes)
        written_echo = crms.records_written() - written_before - written_first
        disagreeing = disagreements(crms, link)

        lag = steady(crms, link, seconds=args.lag_seconds, rate=args.rate, interval=args.interval)
        base_seconds, base_records = baseline(link, first_writes)  # last: the link never sees its records
    report_write(
        out,
        args,
        need=need,
        preview=preview,
        seed_seconds=seed_seconds,
        cold=cold,
        preview_seconds=preview_seconds,
        start_seconds=start_seconds,
        apply_calls=apply_calls,
        first_seconds=first_seconds,
        first_writes=first_writes,
        written_first=written_first,
        echo_seconds=echo_seconds,
        echo_writes=echo_writes,
        written_echo=written_echo,
        disagreeing=disagreeing,
        base_seconds=base_seconds,
        base_records=base_records,
        lag=lag,
    )
    out.write(args.output)


def report_write(out: Any, args: Any, **r: Any) -> None:
    count, need = args.records, r["need"]
    minimum = sum(need.values())
    operations: dict[str, int] = {}
    for write in r["first_writes"]:
        key = f"{write.operation}_{write.side}"
        operations[key] = operations.get(key, 0) + 1
    issued = len(r["first_writes"])
    records = 2 * count
    out(
        f"First sync of a two-way link, Zoho CRM ⇄ HubSpot contacts: {count:,} on each side, {args.overlap:.0%} "
        "the same people (by e-mail)"
    )
    report.machine(out, base.ADMIN_DSN)
    out(
        f"emulators: seeded in {r['seed_seconds']:.1f} s, in a thread of this process (their rate limits raised); "
        f"the mirror's cold load of both sides: {r['cold']:.1f} s ({records / r['cold']:,.0f} records/s)"
    )
    p = r["preview"]
    out(
        f"preview ({r['preview_seconds']:.1f} s): matched {p.get('matched')}, create on A {p.get('create_a')}, on B "
        f"{p.get('create_b')}, update A {p.get('update_a')}, B {p.get('update_b')}, conflicts {p.get('conflicts')}, "
        f"ambiguous {p.get('ambiguous')}"
    )
    out()
    out(
        f"first sync: start (matching, {records:,} changes recorded) {r['start_seconds']:.1f} s; start to the last "
        f"write done {r['first_seconds']:.1f} s ({r['apply_calls']} link_apply calls): "
        f"{records / r['first_seconds']:,.0f} records/s"
    )
    planned = r["first_seconds"] - r["start_seconds"]
    out(
        f"  of which the start {r['start_seconds']:.1f} s, then planning and writing {planned:.1f} s "
        f"({records / planned:,.0f} records/s; the baseline's ratio to it {r['base_seconds'] / planned:.2f})"
    )
    out(
        f"  writes issued {issued:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(operations.items()))}); the "
        f"emulators tallied {r['written_first']:,} records written; the least the data needs {minimum:,} "
        f"(creates {need['create_a']:,} on A, {need['create_b']:,} on B; updates {need['update_a']:,} on A, "
        f"{need['update_b']:,} on B): issued / minimum = {issued / max(minimum, 1):.3f}"
    )
    settled = r["first_seconds"] + r["echo_seconds"]
    out(
        f"  our writes read back (one mirror round of both sides, applied): {r['echo_seconds']:.1f} s, "
        f"{r['echo_writes']} more writes, {r['written_echo']} records written (0: no echo, no loop); settled "
        f"{settled:.1f} s ({records / settled:,.0f} records/s)"
    )
    count_disagreeing, examples = r["disagreeing"]
    out(
        f"  linked pairs whose records disagree on a linked field once settled: {count_disagreeing:,}"
        + (f" (e.g. {'; '.join(examples)})" if examples else "")
    )
    out(
        f"baseline: the same {r['base_records']:,} records straight through upsert_many / update_many, no link "
        f"engine: {r['base_seconds']:.1f} s ({r['base_records'] / max(r['base_seconds'], 1e-9):,.0f} records/s)"
    )
    out(
        f"ratio baseline / first sync (start to last write) = {r['base_seconds'] / r['first_seconds']:.2f}; "
        f"/ settled = {r['base_seconds'] / settled:.2f}"
    )
    lag = r["lag"]
    out()
    out(
        f"steady state: {lag['edits']:,} title edits at {args.rate:g}/s for {args.lag_seconds:g} s, either side at "
        f"random; the bench mirrors both sides and applies every {args.interval:g} s (the sync interval; one round "
        f"took {lag['round_p50']:.2f} s at the median, {lag['rounds']} rounds)"
    )
    out(
        f"  {lag['written']:,} edits written to the other side (an edit replaced by a later one on the same record "
        f"within an interval is written once); lag edit -> write done: p50 {lag['p50']:.2f} s, p99 "
        f"{lag['p99']:.2f} s, max {lag['max']:.2f} s (the interval alone adds up to {args.interval:g} s)"
    )


if __name__ == "__main__":
    main()
