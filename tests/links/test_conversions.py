"""Values between two CRMs: typed from the mirror, hashed, compared and converted into the other side's terms."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm.records import FieldSpec, FieldType
from links.conversions import (
    ConversionContext,
    LookupPending,
    OwnerUnmapped,
    Unconvertible,
    compatible,
    conversion_context,
    convert,
    is_empty,
    mirror_value,
    value_hash,
    values_equal,
)
from links.models import LinkField, RecordPair
from studios.models import MemberCrmUser
from sync.models import CrmRecord
from tests.factories import MembershipFactory

F = FieldType
NY = ZoneInfo("America/New_York")


def context(**options):
    return ConversionContext(time_zone=NY, **options)


def field(**values):
    return LinkField(field_a="x", field_b="y", **values)


def test_mirror_value_reads_each_type_as_the_mirror_stores_it(world):
    world.mirror(
        "a",
        [
            world.lead_a(
                "1",
                Last_Name="Ng",
                Email="Ng@Example.test",
                Phone="(212) 555-0100",
                Birthday=date(1990, 5, 17),
                Score=42,
                Budget=Decimal("1200.50"),
                VIP=True,
                Owner="u-1",
                Account_Name="acc-9",
                Lead_Status="Contacted",
            )
        ],
    )
    row = CrmRecord.objects.unscoped().get(connection=world.connection_a, external_id="1")
    spec = world.spec("a")
    read = {f.name: mirror_value(row, f) for f in spec.fields}
    assert read == {
        "Last_Name": "Ng",
        "Email": "Ng@Example.test",
        "Phone": "+12125550100",
        "Lead_Status": "Contacted",
        "Birthday": date(1990, 5, 17),
        "Score": 42,
        "Budget": Decimal("1200.50"),
        "VIP": True,
        "Owner": "u-1",
        "Account_Name": "acc-9",
        "Leadline_Id": None,
    }


def test_a_datetime_comes_back_aware(world):
    moment = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    world.mirror("b", [world.lead_b("5", lastname="Li", birth_at=moment)])
    row = CrmRecord.objects.unscoped().get(connection=world.connection_b, external_id="5")
    assert mirror_value(row, world.spec("b").field("birth_at")) == moment


def test_hashes_are_of_the_value_not_its_text():
    assert value_hash(Decimal("10.50")) == value_hash(Decimal("10.5")) == value_hash(10.5)
    assert value_hash(10) == value_hash(Decimal("10"))
    assert value_hash(True) != value_hash(1)
    assert value_hash(datetime(2026, 1, 1, 12, tzinfo=UTC)) == value_hash(
        datetime(2026, 1, 1, 7, tzinfo=NY).replace(hour=7)
    )
    assert value_hash(["b", "a"]) == value_hash(["a", "b"])
    assert value_hash(None) == value_hash("") == value_hash([])
    assert value_hash("x") != value_hash("X")


def test_values_equal_by_field_type():
    assert values_equal("NG@x.test", "ng@x.test", FieldSpec("e", F.EMAIL))
    assert values_equal("(212) 555-0100", "+12125550100", FieldSpec("p", F.PHONE))
    assert values_equal(Decimal("1.0"), "1", FieldSpec("d", F.DECIMAL))
    assert not values_equal("", "x", FieldSpec("t", F.TEXT))
    assert values_equal(None, "", FieldSpec("t", F.TEXT))
    assert is_empty([])
    assert is_empty("")
    assert not is_empty(0)
    assert not is_empty(False)


def test_compatible_names_what_cannot_go():
    assert compatible(FieldSpec("a", F.DATE), FieldSpec("b", F.DATETIME)) == ""
    assert compatible(FieldSpec("a", F.NUMBER), FieldSpec("b", F.TEXT)) == ""
    assert compatible(FieldSpec("a", F.DATE), FieldSpec("b", F.BOOLEAN)) == "a date cannot go into a boolean"
    lookup = compatible(
        FieldSpec("a", F.LOOKUP, lookup_target="account"), FieldSpec("b", F.LOOKUP, lookup_target="deal")
    )
    assert lookup == "a lookup of account cannot go into a lookup of deal"


def test_picklists_by_map_then_value_then_label():
    source = FieldSpec("s", F.PICKLIST, choices=("New", "Contacted", "Junk"))
    target = FieldSpec(
        "t", F.PICKLIST, choices=("NEW", "CONNECTED", "UNQUALIFIED"), choice_labels=("New", "Connected", "Junk")
    )
    mapping = field(values_a_to_b={"Contacted": "CONNECTED"})
    go = {"source": source, "target": target, "link_field": mapping, "to_side": "b", "context": context()}
    assert convert("Contacted", **go) == "CONNECTED"  # the link's map
    assert convert("New", **go) == "NEW"  # the same value, regardless of case
    assert convert("Junk", **go) == "UNQUALIFIED"  # the same label
    back = {"source": target, "target": source, "link_field": mapping, "to_side": "a", "context": context()}
    assert convert("CONNECTED", **back) == "Contacted"  # the reverse of the map
    with pytest.raises(Unconvertible, match="not a value of"):
        convert("Lost", **go)


def test_dates_and_datetimes_meet_in_the_links_zone():
    date_spec, moment_spec = FieldSpec("d", F.DATE), FieldSpec("m", F.DATETIME)
    late_evening = datetime(2026, 12, 8, 2, 30, tzinfo=UTC)  # 21:30 on the 7th in New York
    assert convert(
        late_evening, source=moment_spec, target=date_spec, link_field=field(), to_side="a", context=context()
    ) == date(2026, 12, 7)
    midnight = convert(
        date(2026, 12, 7), source=date_spec, target=moment_spec, link_field=field(), to_side="b", context=context()
    )
    assert midnight == datetime(2026, 12, 7, tzinfo=NY)


def test_numbers_booleans_and_text():
    go = {"link_field": field(), "to_side": "b", "context": context()}
    assert convert(Decimal("3"), source=FieldSpec("s", F.DECIMAL), target=FieldSpec("t", F.NUMBER), **go) == 3
    with pytest.raises(Unconvertible, match="whole number"):
        convert(Decimal("3.5"), source=FieldSpec("s", F.DECIMAL), target=FieldSpec("t", F.NUMBER), **go)
    assert convert(7, source=FieldSpec("s", F.NUMBER), target=FieldSpec("t", F.TEXT), **go) == "7"
    assert convert("+12125550100", source=FieldSpec("s", F.TEXT), target=FieldSpec("t", F.PHONE), **go) == (
        "+12125550100"
    )
    assert convert(None, source=FieldSpec("s", F.TEXT), target=FieldSpec("t", F.TEXT), **go) is None


def test_owners_through_the_member_map_and_the_links_own(world):
    member = MembershipFactory(organization=world.organization)
    MemberCrmUser.objects.create(
        organization=world.organization, membership=member, connection=world.connection_a, crm_user_id="za-1"
    )
    MemberCrmUser.objects.create(
        organization=world.organization, membership=member, connection=world.connection_b, crm_user_id="hs-1"
    )
    world.link.owners = [{"a": "za-2", "b": "hs-2"}]
    ctx = conversion_context(world.link)
    owner_a, owner_b = world.spec("a").field("Owner"), world.spec("b").field("hubspot_owner_id")
    go = {"link_field": world.fields["owner"], "context": ctx}
    assert convert("za-1", source=owner_a, target=owner_b, to_side="b", **go) == "hs-1"
    assert convert("hs-2", source=owner_b, target=owner_a, to_side="a", **go) == "za-2"
    with pytest.raises(OwnerUnmapped):
        convert("za-3", source=owner_a, target=owner_b, to_side="b", **go)


def test_lookups_through_the_pairs_of_the_looked_up_object(world):
    RecordPair.objects.create(
        organization=world.organization,
        link=world.link,
        link_object=world.accounts,
        id_a="acc-1",
        id_b="co-1",
        matched_by=RecordPair.MatchedBy.EXTERNAL_ID,
    )
    ctx = conversion_context(world.link)
    lookup_a, lookup_b = world.spec("a").field("Account_Name"), world.spec("b").field("company")
    go = {"link_field": world.fields["account"], "context": ctx}
    assert convert("acc-1", source=lookup_a, target=lookup_b, to_side="b", **go) == "co-1"
    assert convert("co-1", source=lookup_b, target=lookup_a, to_side="a", **go) == "acc-1"
    with pytest.raises(LookupPending):
        convert("acc-2", source=lookup_a, target=lookup_b, to_side="b", **go)
