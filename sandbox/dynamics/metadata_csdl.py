"""`GET /api/data/v9.2/$metadata`: a minimal CSDL (OData v4 XML) document of the environment's entity types, their
properties (lookups as `_<column>_value` Edm.Guid), single-valued navigation properties (what `@odata.bind`
names), entity sets and the WhoAmI function."""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from sandbox.dynamics.records_values import EDM
from sandbox.dynamics.shapes import navigation_property

if TYPE_CHECKING:
    from sandbox.dynamics.state import Environment

NAMESPACE = "Microsoft.Dynamics.CRM"


def csdl(environment: Environment) -> str:
    types, sets = [], []
    for table in environment.tables.values():
        lines = [
            f"<EntityType Name={quoteattr(table.logical_name)}>",
            f"<Key><PropertyRef Name={quoteattr(table.primary_id)}/></Key>",
        ]
        navigations = []
        for attribute in table.attributes.values():
            if attribute.is_lookup:
                lines.append(f'<Property Name="_{attribute.logical_name}_value" Type="Edm.Guid"/>')
                for target in attribute.targets:
                    if environment.table(target) is None:
                        continue
                    name = navigation_property(attribute, target)
                    if name not in navigations:
                        navigations.append(name)
                        lines.append(f'<NavigationProperty Name={quoteattr(name)} Type="mscrm.{target}"/>')
                continue
            kind = EDM.get(attribute.type, "Edm.String")
            if attribute.type == "DateTime" and attribute.format == "DateOnly":
                kind = "Edm.Date"
            lines.append(f"<Property Name={quoteattr(attribute.logical_name)} Type={quoteattr(kind)}/>")
        lines.append("</EntityType>")
        types.append("".join(lines))
        sets.append(f'<EntitySet Name={quoteattr(table.entity_set_name)} EntityType="mscrm.{table.logical_name}"/>')
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        f'<Schema Namespace="{NAMESPACE}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        + "".join(types)
        + '<ComplexType Name="WhoAmIResponse"><Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false"/>'
        '<Property Name="UserId" Type="Edm.Guid" Nullable="false"/>'
        '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false"/></ComplexType>'
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false"/></Function>'
        '<EntityContainer Name="System">'
        + "".join(sets)
        + '<FunctionImport Name="WhoAmI" Function="mscrm.WhoAmI"/></EntityContainer></Schema>'
        "</edmx:DataServices></edmx:Edmx>"
    )
