"""The emulator's SOQL: parser, compiler and runner, without a server (fast)."""

# ruff: noqa: S608 - the queries built here are SOQL for the emulator, not SQL

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.kit.store import RecordStore
from sandbox.salesforce import soql
from sandbox.salesforce.ids import make_id

STAMP = "%Y-%m-%dT%H:%M:%S.000+0000"


def _field(name: str, kind: str, **extra) -> dict:
    return {"name": name, "type": kind, "sortable": True, "filterable": True, **extra}


LEAD = {
    "name": "Lead",
    "fields": [
        _field("Id", "id"),
        _field("IsDeleted", "boolean"),
        _field("FirstName", "string"),
        _field("LastName", "string"),
        _field("Company", "string"),
        _field("Email", "email"),
        _field("Phone", "phone"),
        _field("Status", "picklist"),
        _field("AnnualRevenue", "currency"),
        _field("NumberOfEmployees", "int"),
        _field("OwnerId", "reference", referenceTo=["User"], relationshipName="Owner"),
        _field("CreatedDate", "datetime"),
        _field("SystemModstamp", "datetime"),
        _field("ConvertedDate", "date"),
        _field("IsConverted", "boolean"),
        _field("Description", "textarea", length=32000, sortable=False, filterable=False),
        _field("Notes__c", "textarea", length=32000, sortable=False, filterable=False),
        _field("Street", "textarea", length=255, compoundFieldName="Address"),
        _field("City", "string", compoundFieldName="Address"),
        _field("Address", "address", sortable=False, filterable=False),
    ],
}
USER = {"name": "User", "fields": [_field("Id", "id"), _field("Name", "string"), _field("Email", "email")]}


def _now() -> datetime:
    return datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _store(kind: str, prefix: str, start: int) -> RecordStore:
    counter = iter(range(start, start + 100_000))
    return RecordStore(
        kind,
        new_id=lambda: make_id(prefix, "00", next(counter)),
        now=_now,
        stamp=lambda moment: moment.strftime(STAMP),
        parse=soql.parse_datetime,
        modified_field="SystemModstamp",
        created_field="CreatedDate",
        id_key=str,
    )


class Catalog:
    def __init__(self) -> None:
        self.entities = {"lead": soql.Entity.from_describe(LEAD), "user": soql.Entity.from_describe(USER)}
        self.leads = _store("Lead", "00Q", 1)
        self.users = _store("User", "005", 1)

    def entity(self, sobject: str):
        return self.entities.get(sobject.lower())

    def record(self, sobject: str, record_id: str):
        return {"Lead": self.leads, "User": self.users}[sobject].get(record_id)

    def add_lead(self, stamp: str, **values) -> dict:
        record = self.leads.insert({"SystemModstamp": stamp, "CreatedDate": stamp, "IsDeleted": False, **values})
        record["Id"] = record["id"]
        return record


@pytest.fixture
def catalog() -> Catalog:
    found = Catalog()
    owner = found.users.insert({"Name": "Ann Owner", "Email": "ann@example.test"})
    owner["Id"] = owner["id"]
    found.add_lead("2026-12-01T10:00:00.000+0000", LastName="Adams", Company="Acme", Status="Open", OwnerId=owner["id"])
    found.add_lead("2026-12-01T10:00:00.000+0000", LastName="baker", Company="Bolt", Status="Working", Phone=None)
    found.add_lead("2026-12-02T09:30:00.000+0000", LastName="Clark", Company="Acme", Status="Open", AnnualRevenue=5.5)
    found.add_lead(
        "2026-12-03T08:00:00.000+0000", LastName="Diaz", Company="50% Off_Shop", Status="Closed", IsConverted=True,
        ConvertedDate="2026-12-03", Street="1 Main St", City="Springfield",
    )  # fmt: skip
    return found


def _query(catalog: Catalog, text: str, **options) -> list[dict]:
    compiled = soql.compile_query(soql.parse(text), catalog, now=_now())
    return soql.run(compiled, catalog.leads, **options)


def _names(rows: list[dict]) -> list[str]:
    return [row["LastName"] for row in rows]


def _error(catalog: Catalog, text: str) -> soql.SoqlError:
    with pytest.raises(soql.SoqlError) as caught:
        soql.compile_query(soql.parse(text), catalog, now=_now())
    return caught.value


# --- parsing -------------------------------------------------------------------------------------------------
def test_parses_every_clause() -> None:
    query = soql.parse(
        "select Id, Owner.Name FROM Lead WHERE (Status = 'Open' OR Status IN ('Working')) AND NOT IsConverted = true "
        "ORDER BY LastName DESC NULLS FIRST, Id LIMIT 10 OFFSET 5"
    )
    assert [item.text for item in query.select] == ["Id", "Owner.Name"]
    assert query.sobject == "Lead"
    assert isinstance(query.where, soql.BoolOp)
    assert query.where.operator == "and"
    assert isinstance(query.where.items[1], soql.Not)
    assert [(o.path.text, o.descending, o.nulls_last) for o in query.order_by] == [
        ("LastName", True, False),
        ("Id", False, False),
    ]
    assert (query.limit, query.offset) == (10, 5)


def test_literals() -> None:
    where = soql.parse(
        r"SELECT Id FROM Lead WHERE A = 'O\'Brien \\ \n' AND B = -1.5 AND C = 2026-12-07T14:03:56Z "
        "AND D = 2026-12-07T14:03:56.000+0000 AND E = 2026-12-07 AND F = null AND G = LAST_N_DAYS:3"
    ).where
    values = [item.values[0] for item in where.items]
    assert values[0].value == "O'Brien \\ \n"
    assert values[1].value == -1.5
    assert values[2].value == datetime(2026, 12, 7, 14, 3, 56, tzinfo=UTC)
    assert values[3].value == values[2].value
    assert (values[4].kind, values[4].value) == ("date", "2026-12-07")
    assert values[5].kind == "null"
    assert values[6].value == ("LAST_N_DAYS", 3)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("SELECT Id FRM Lead", "unexpected token: 'FRM'"),
        ("SELECT Id FROM Lead WHERE", "unexpected token: <EOF>"),
        ("SELECT Id FROM Lead WHERE A = 1 AND B = 2 OR C = 3", "unexpected token: 'OR'"),
        ("SELECT Id FROM Lead WHERE A = 'open", "unterminated string literal"),
        ("SELECT Id FROM Lead LIMIT 'x'", "unexpected token: 'x'"),
        ("", "unexpected token: <EOF>"),
    ],
)
def test_malformed(text: str, detail: str) -> None:
    with pytest.raises(soql.SoqlError) as caught:
        soql.parse(text)
    assert caught.value.code == "MALFORMED_QUERY"
    assert detail in caught.value.detail


def test_error_message_points_at_the_token() -> None:
    text = "SELECT Id FRM Lead"
    with pytest.raises(soql.SoqlError) as caught:
        soql.parse(text)
    assert caught.value.message_for(text) == (
        "\nSELECT Id FRM Lead\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FRM'"
    )


def test_offset_is_capped() -> None:
    assert soql.parse("SELECT Id FROM Lead OFFSET 2000").offset == 2000
    with pytest.raises(soql.SoqlError) as caught:
        soql.parse("SELECT Id FROM Lead OFFSET 2001")
    assert caught.value.code == "NUMBER_OUTSIDE_VALID_RANGE"
    assert caught.value.detail == "Maximum SOQL offset allowed is 2000"


# --- compiling -----------------------------------------------------------------------------------------------
def test_unknown_field_and_type(catalog: Catalog) -> None:
    error = _error(catalog, "SELECT Id, Foo FROM Lead")
    assert error.code == "INVALID_FIELD"
    assert error.detail.startswith("No such column 'Foo' on entity 'Lead'. If you are attempting to use a custom")
    error = _error(catalog, "SELECT Id FROM Leads")
    assert error.code == "INVALID_TYPE"
    assert error.detail.startswith("sObject type 'Leads' is not supported.")
    assert _error(catalog, "SELECT Id FROM Lead WHERE Nope = 1").code == "INVALID_FIELD"
    assert _error(catalog, "SELECT Id FROM Lead ORDER BY Nope").code == "INVALID_FIELD"
    assert _error(catalog, "SELECT Boss.Name FROM Lead").detail.startswith("Didn't understand relationship 'Boss'")


def test_literal_types_are_checked(catalog: Catalog) -> None:
    error = _error(catalog, "SELECT Id FROM Lead WHERE SystemModstamp > '2026-12-01T00:00:00Z'")
    assert error.code == "INVALID_FIELD"
    assert error.detail == (
        "value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed "
        "in quotes"
    )
    wrong_type = _error(catalog, "SELECT Id FROM Lead WHERE Email = 1")
    assert "must be of type string and should be enclosed" in wrong_type.detail
    assert "type boolean" in _error(catalog, "SELECT Id FROM Lead WHERE IsConverted = 'true'").detail
    assert "type date " in _error(catalog, "SELECT Id FROM Lead WHERE ConvertedDate = 2026-12-01T00:00:00Z").detail
    assert _error(catalog, "SELECT Id FROM Lead WHERE Id = 'nope'").code == "INVALID_QUERY_FILTER_OPERATOR"
    assert "can not be filtered" in _error(catalog, "SELECT Id FROM Lead WHERE Description = 'x'").detail
    assert "can not be sorted" in _error(catalog, "SELECT Id FROM Lead ORDER BY Description").detail
    assert "duplicate field selected" in _error(catalog, "SELECT Id, id FROM Lead").detail
    assert _error(catalog, "SELECT COUNT(), Id FROM Lead").code == "MALFORMED_QUERY"


def test_long_text_columns_are_counted(catalog: Catalog) -> None:
    compiled = soql.compile_query(soql.parse("SELECT Description, notes__c, Street FROM Lead"), catalog)
    assert compiled.long_text_columns == 2
    assert [column.path for column in compiled.columns] == [("Description",), ("Notes__c",), ("Street",)]


# --- evaluating ----------------------------------------------------------------------------------------------
def test_comparisons_ignore_case_and_nulls_are_values(catalog: Catalog) -> None:
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE LastName = 'BAKER'")) == ["baker"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE Company != 'acme' ORDER BY LastName")) == ["baker", "Diaz"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE AnnualRevenue = null ORDER BY LastName")) == [
        "Adams",
        "baker",
        "Diaz",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE AnnualRevenue != 5.5 ORDER BY LastName")) == [
        "Adams",
        "baker",
        "Diaz",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE AnnualRevenue > 1")) == ["Clark"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE Status NOT IN ('open', 'closed')")) == ["baker"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE NOT (Status = 'Open' OR IsConverted = true)")) == ["baker"]


def test_like(catalog: Catalog) -> None:
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE LastName LIKE 'a%'")) == ["Adams"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE LastName LIKE '_aker'")) == ["baker"]
    assert _names(_query(catalog, r"SELECT Id FROM Lead WHERE Company LIKE '50\% Off\_%'")) == ["Diaz"]
    assert _query(catalog, r"SELECT Id FROM Lead WHERE Company LIKE '50\%%Off\_X'") == []


def test_datetimes_dates_and_date_literals(catalog: Catalog) -> None:
    after = "SELECT Id FROM Lead WHERE SystemModstamp > 2026-12-01T10:00:00Z ORDER BY SystemModstamp"
    assert _names(_query(catalog, after)) == ["Clark", "Diaz"]
    offset = "SELECT Id FROM Lead WHERE SystemModstamp >= 2026-12-01T02:00:00-08:00 ORDER BY SystemModstamp, Id"
    assert _names(_query(catalog, offset)) == ["Adams", "baker", "Clark", "Diaz"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE ConvertedDate = 2026-12-03")) == ["Diaz"]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:5 ORDER BY Id")) == [
        "Clark",
        "Diaz",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead WHERE ConvertedDate < TODAY")) == ["Diaz"]


def test_ids_fifteen_or_eighteen(catalog: Catalog) -> None:
    lead = next(iter(catalog.leads.records.values()))
    for given in (lead["Id"], lead["Id"][:15], lead["Id"][:15] + lead["Id"][15:].lower()):
        assert _names(_query(catalog, f"SELECT Id FROM Lead WHERE Id = '{given}'")) == ["Adams"]
    both = _query(catalog, f"SELECT Id FROM Lead WHERE Id IN ('{lead['Id'][:15]}', '{lead['Id']}')")
    assert _names(both) == ["Adams"]


def test_order_by_several_keys_and_nulls(catalog: Catalog) -> None:
    assert _names(_query(catalog, "SELECT Id FROM Lead ORDER BY Company, LastName DESC")) == [
        "Diaz",
        "Clark",
        "Adams",
        "baker",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead ORDER BY AnnualRevenue, LastName")) == [
        "Adams",
        "baker",
        "Diaz",
        "Clark",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead ORDER BY AnnualRevenue NULLS LAST, LastName")) == [
        "Clark",
        "Adams",
        "baker",
        "Diaz",
    ]
    assert _names(_query(catalog, "SELECT Id FROM Lead ORDER BY AnnualRevenue DESC, LastName"))[0] == "Clark"
    assert _names(_query(catalog, "SELECT Id FROM Lead ORDER BY LastName LIMIT 2 OFFSET 1")) == ["baker", "Clark"]


def test_relationship_and_compound_fields(catalog: Catalog) -> None:
    compiled = soql.compile_query(soql.parse("SELECT owner.name, Address FROM Lead ORDER BY LastName"), catalog)
    rows = soql.run(compiled, catalog.leads)
    owner, address = compiled.columns
    assert owner.path == ("Owner", "Name")
    assert [owner.get(row) for row in rows] == ["Ann Owner", None, None, None]
    assert address.get(rows[3]) == {"street": "1 Main St", "city": "Springfield"}
    assert address.get(rows[0]) is None


def test_count_and_deleted_rows(catalog: Catalog) -> None:
    catalog.add_lead("2026-12-04T00:00:00.000+0000", LastName="Gone", IsDeleted=True)
    compiled = soql.compile_query(soql.parse("SELECT COUNT() FROM Lead WHERE Company = 'Acme'"), catalog)
    assert compiled.is_count
    assert len(soql.run(compiled, catalog.leads)) == 2
    live = soql.run(soql.compile_query(soql.parse("SELECT Id FROM Lead"), catalog), catalog.leads,
                    visible=lambda row: not row["IsDeleted"])  # fmt: skip
    assert "Gone" not in _names(live)
    assert len(live) == 4


# --- the keyset over the (SystemModstamp, Id) index ----------------------------------------------------------
def test_keyset_reads_the_index_and_agrees_with_a_full_sort(catalog: Catalog) -> None:
    for number in range(300):
        catalog.add_lead(f"2026-12-05T00:00:{number % 7:02d}.000+0000", LastName=f"K{number:03d}")
    keyset = (
        "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp > {t} OR (SystemModstamp = {t} AND Id > '{id}') "
        "ORDER BY SystemModstamp, Id LIMIT 50"
    )
    seen: list[str] = []
    t, last = "2000-01-01T00:00:00Z", "000000000000000AAA"
    while True:
        compiled = soql.compile_query(soql.parse(keyset.format(t=t, id=last)), catalog)
        assert compiled.keyset is not None
        assert compiled.keyset.order == "modified"
        rows = soql.run(compiled, catalog.leads)
        # the same answer without the index: the sorting path
        compiled.keyset = None
        assert soql.run(compiled, catalog.leads) == rows
        if not rows:
            break
        seen.extend(row["Id"] for row in rows)
        t, last = rows[-1]["SystemModstamp"].replace(".000+0000", "Z"), rows[-1]["Id"]
    assert len(seen) == len(set(seen)) == 304


def test_keyset_by_id(catalog: Catalog) -> None:
    ids = sorted(catalog.leads.records)
    compiled = soql.compile_query(soql.parse(f"SELECT Id FROM Lead WHERE Id > '{ids[1]}' ORDER BY Id LIMIT 1"), catalog)
    assert compiled.keyset is not None
    assert compiled.keyset.order == "id"
    assert [row["Id"] for row in soql.run(compiled, catalog.leads)] == [ids[2]]
    compiled = soql.compile_query(soql.parse(f"SELECT Id FROM Lead WHERE Id >= '{ids[1]}' ORDER BY Id"), catalog)
    assert [row["Id"] for row in soql.run(compiled, catalog.leads)] == ids[1:]


def test_rows_named_by_id_are_read_by_id(catalog: Catalog) -> None:
    ids = sorted(catalog.leads.records)
    text = f"SELECT Id FROM Lead WHERE Id IN ('{ids[2]}', '{ids[0][:15]}', '000000000000000AAA') AND Status = 'Open'"
    compiled = soql.compile_query(soql.parse(text), catalog)
    assert compiled.id_members == {ids[2], ids[0], "000000000000000AAA"}
    by_id = soql.run(compiled, catalog.leads)
    compiled.id_members = None
    assert by_id == soql.run(compiled, catalog.leads)
    assert [row["Id"] for row in by_id] == [ids[0], ids[2]]


def test_an_unordered_query_with_a_modstamp_bound_reads_the_index(catalog: Catalog) -> None:
    text = "SELECT Id FROM Lead WHERE IsDeleted = false AND SystemModstamp >= 2026-12-02T00:00:00Z"
    compiled = soql.compile_query(soql.parse(text), catalog)
    assert compiled.keyset is not None
    assert _names(soql.run(compiled, catalog.leads)) == ["Clark", "Diaz"]
