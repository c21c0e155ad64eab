"""The emulated metadata Web API: table definitions, columns with their derived-type properties through casts
(FormatName Phone, option sets), relationships naming the navigation properties @odata.bind uses, alternate keys,
and the CSDL document."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.sandbox.dynamics.dv_support import ok

STRINGS = "Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata"
PICKLISTS = "Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"


def test_entity_definition_of_a_table(env):
    lead = ok(
        env.api(
            "GET",
            "EntityDefinitions(LogicalName='lead')?$select=LogicalName,EntitySetName,"
            "PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled,IsActivity,DisplayName",
        )
    )
    assert lead["EntitySetName"] == "leads"
    assert lead["PrimaryIdAttribute"] == "leadid"
    assert lead["PrimaryNameAttribute"] == "fullname"
    assert lead["ChangeTrackingEnabled"] is True
    assert lead["IsActivity"] is False
    assert lead["DisplayName"]["UserLocalizedLabel"]["Label"] == "Lead"
    assert "MetadataId" in lead
    assert "ObjectTypeCode" not in lead

    task = ok(env.api("GET", "EntityDefinitions(LogicalName='task')?$select=ChangeTrackingEnabled,IsActivity"))
    assert (task["ChangeTrackingEnabled"], task["IsActivity"]) == (False, True)

    activities = ok(env.api("GET", "EntityDefinitions?$select=LogicalName,EntitySetName&$filter=IsActivity eq true"))
    assert {item["EntitySetName"] for item in activities["value"]} == {"tasks", "lh_smses"}
    assert env.api("GET", "EntityDefinitions(LogicalName='nosuchtable')").status_code == 404


def test_phone_columns_through_the_string_cast(env):
    phones = ok(
        env.api(
            "GET",
            f"EntityDefinitions(LogicalName='contact')/{STRINGS}?$select=LogicalName,"
            "FormatName,MaxLength&$filter=FormatName/Value eq 'Phone'",
        )
    )
    assert {item["LogicalName"] for item in phones["value"]} == {"telephone1", "telephone2", "mobilephone"}
    assert all(item["MaxLength"] == 50 for item in phones["value"])

    # A derived type's property is not on AttributeMetadata itself, as in Dataverse.
    refused = env.api("GET", "EntityDefinitions(LogicalName='lead')/Attributes?$select=LogicalName,FormatName")
    assert refused.status_code == 400
    assert "Microsoft.Dynamics.CRM.AttributeMetadata" in refused.json()["error"]["message"]

    # Without $select every column comes with its own type's properties.
    every = ok(env.api("GET", "EntityDefinitions(LogicalName='lead')/Attributes"))["value"]
    by_name = {item["LogicalName"]: item for item in every}
    assert by_name["mobilephone"]["FormatName"] == {"Value": "Phone"}
    assert by_name["emailaddress1"]["FormatName"] == {"Value": "Email"}
    assert by_name["parentaccountid"]["Targets"] == ["account"]
    assert by_name["lastname"]["RequiredLevel"]["Value"] == "ApplicationRequired"
    assert by_name["lh_smsoptout"]["IsCustomAttribute"] is True
    assert by_name["fullname"]["IsValidForCreate"] is False
    assert by_name["leadsourcecode"]["AttributeTypeName"] == {"Value": "PicklistType"}


def test_option_sets(env):
    picklists = ok(
        env.api("GET", f"EntityDefinitions(LogicalName='lead')/{PICKLISTS}?$select=LogicalName&$expand=OptionSet")
    )["value"]
    source = next(item for item in picklists if item["LogicalName"] == "leadsourcecode")
    labels = {
        option["Value"]: option["Label"]["UserLocalizedLabel"]["Label"] for option in source["OptionSet"]["Options"]
    }
    assert labels[8] == "Web"

    one = ok(
        env.api(
            "GET",
            "EntityDefinitions(LogicalName='opportunity')/Attributes(LogicalName='salesstage')/"
            "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet",
        )
    )
    assert [option["Value"] for option in one["OptionSet"]["Options"]] == [0, 1, 2, 3]
    assert env.api("GET", "EntityDefinitions(LogicalName='lead')/Attributes?$expand=OptionSet").status_code == 400


def test_relationships_name_the_bind_navigation_properties(env):
    found = ok(
        env.api(
            "GET",
            "EntityDefinitions(LogicalName='task')/ManyToOneRelationships?$select="
            "ReferencingEntityNavigationPropertyName,ReferencedEntity&$filter=ReferencingAttribute eq "
            "'regardingobjectid'",
        )
    )["value"]
    names = {item["ReferencedEntity"]: item["ReferencingEntityNavigationPropertyName"] for item in found}
    assert names["lead"] == "regardingobjectid_lead_task"
    assert names["contact"] == "regardingobjectid_contact_task"

    contact = ok(env.api("GET", "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships"))["value"]
    customer = {
        item["ReferencedEntity"]: item["ReferencingEntityNavigationPropertyName"]
        for item in contact
        if item["ReferencingAttribute"] == "parentcustomerid"
    }
    assert customer == {"account": "parentcustomerid_account", "contact": "parentcustomerid_contact"}


def test_alternate_keys_and_the_csdl(env):
    keys = ok(env.api("GET", "EntityDefinitions(LogicalName='lh_sms')/Keys?$select=LogicalName,KeyAttributes"))
    assert keys["value"][0]["KeyAttributes"] == ["lh_leadlinemessageid"]

    document = env.api("GET", "$metadata")
    assert document.status_code == 200
    root = ET.fromstring(document.content)  # noqa: S314 - the emulator's own document
    edm = "{http://docs.oasis-open.org/odata/ns/edm}"
    lead = next(node for node in root.iter(f"{edm}EntityType") if node.get("Name") == "lead")
    assert lead.find(f"{edm}Key/{edm}PropertyRef").get("Name") == "leadid"
    assert "_parentaccountid_value" in {node.get("Name") for node in lead.iter(f"{edm}Property")}
    task = next(node for node in root.iter(f"{edm}EntityType") if node.get("Name") == "task")
    assert "regardingobjectid_lead_task" in {node.get("Name") for node in task.iter(f"{edm}NavigationProperty")}
    sets = {node.get("Name") for node in root.iter(f"{edm}EntitySet")}
    assert {"leads", "contacts", "accounts", "opportunities", "tasks", "lh_smses", "systemusers"} <= sets
