"""The tables and columns every emulated environment has: Dataverse's standard sales tables (lead, contact,
account, opportunity, task, systemuser, businessunit) with their realistic columns, option sets and lookups,
plus a customer's customisations with publisher prefix `lh_`: `lh_smsoptout` and `lh_studio` columns, the
`lh_leadlineid` column with an alternate key (`lh_leadlineid_key`) on lead, contact and account (docs/crm/dynamics.md
asks for it: two-way sync creates rows by upserting on it), and the `lh_sms` custom activity table with an
alternate key on `lh_leadlinemessageid`."""

from __future__ import annotations

from sandbox.dynamics.state_tables import Attribute, Table

LEAD_SOURCES = (
    (1, "Advertisement"),
    (2, "Employee Referral"),
    (3, "External Referral"),
    (4, "Partner"),
    (5, "Public Relations"),
    (6, "Seminar"),
    (7, "Trade Show"),
    (8, "Web"),
    (9, "Word of Mouth"),
    (10, "Other"),
)
INDUSTRIES = (
    (1, "Accounting"),
    (7, "Consulting"),
    (12, "Financial"),
    (19, "Health Services"),
    (25, "Recreation"),
    (27, "Retail"),
    (33, "Service Retail"),
)
SALES_STAGES = ((0, "Qualify"), (1, "Develop"), (2, "Propose"), (3, "Close"))
STATES = {
    "lead": ((0, "Open"), (1, "Qualified"), (2, "Disqualified")),
    "contact": ((0, "Active"), (1, "Inactive")),
    "account": ((0, "Active"), (1, "Inactive")),
    "opportunity": ((0, "Open"), (1, "Won"), (2, "Lost")),
    "task": ((0, "Open"), (1, "Completed"), (2, "Canceled")),
    "lh_sms": ((0, "Open"), (1, "Completed"), (2, "Canceled")),
}
STATUSES = {
    "lead": (
        (1, "New"),
        (2, "Contacted"),
        (3, "Qualified"),
        (4, "Lost"),
        (5, "Cannot Contact"),
        (6, "No Longer Interested"),
        (7, "Canceled"),
    ),
    "contact": ((1, "Active"), (2, "Inactive")),
    "account": ((1, "Active"), (2, "Inactive")),
    "opportunity": ((1, "In Progress"), (2, "On Hold"), (3, "Won"), (4, "Canceled"), (5, "Out-Sold")),
    "task": (
        (2, "Not Started"),
        (3, "In Progress"),
        (4, "Waiting on someone else"),
        (5, "Completed"),
        (6, "Canceled"),
        (7, "Deferred"),
    ),
    "lh_sms": ((1, "Open"), (2, "Completed"), (3, "Canceled")),
}
# Which state each status reason belongs to (statuscode -> statecode), and each state's default status reason.
STATUS_STATES = {
    "lead": {1: 0, 2: 0, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2},
    "contact": {1: 0, 2: 1},
    "account": {1: 0, 2: 1},
    "opportunity": {1: 0, 2: 0, 3: 1, 4: 2, 5: 2},
    "task": {2: 0, 3: 0, 4: 0, 7: 0, 5: 1, 6: 2},
    "lh_sms": {1: 0, 2: 1, 3: 2},
}
DEFAULT_STATUS = {
    "lead": {0: 1, 1: 3, 2: 4},
    "contact": {0: 1, 1: 2},
    "account": {0: 1, 1: 2},
    "opportunity": {0: 1, 1: 3, 2: 4},
    "task": {0: 2, 1: 5, 2: 6},
    "lh_sms": {0: 1, 1: 2, 2: 3},
}
PRIORITIES = ((0, "Low"), (1, "Normal"), (2, "High"))
DIRECTIONS = ((0, "Incoming"), (1, "Outgoing"))  # activity direction as a two-option label set
ACTIVITY_REGARDING = ("lead", "contact", "account", "opportunity")
LEADLINE_KEY = "lh_leadlineid_key"


def _text(name: str, display: str, length: int = 100, fmt: str = "Text", **more) -> Attribute:
    return Attribute(name, "String", display, format=fmt, max_length=length, **more)


def _phone(name: str, display: str) -> Attribute:
    return _text(name, display, 50, "Phone")


def _lookup(name: str, display: str, *targets: str, kind: str = "Lookup", **more) -> Attribute:
    return Attribute(name, kind, display, targets=targets, **more)


def _system(table: str) -> list[Attribute]:
    """Columns every table has."""
    readonly = {"valid_for_create": False, "valid_for_update": False}
    return [
        Attribute("createdon", "DateTime", "Created On", format="DateAndTime", **readonly),
        Attribute("modifiedon", "DateTime", "Modified On", format="DateAndTime", **readonly),
        _lookup("createdby", "Created By", "systemuser", **readonly),
        _lookup("modifiedby", "Modified By", "systemuser", **readonly),
        Attribute("versionnumber", "BigInt", "Version Number", **readonly),
        Attribute("overriddencreatedon", "DateTime", "Record Created On", format="DateOnly", valid_for_update=False),
    ]


def _owned(table: str) -> list[Attribute]:
    return [
        _lookup("ownerid", "Owner", "systemuser", "team", kind="Owner", required="SystemRequired"),
        Attribute("statecode", "State", "Status", options=STATES[table], required="SystemRequired"),
        Attribute("statuscode", "Status", "Status Reason", options=STATUSES[table]),
    ]


def _table(
    logical: str,
    entity_set: str,
    primary_id: str,
    primary_name: str,
    display: str,
    plural: str,
    columns: list[Attribute],
    *,
    code: int,
    tracking: bool = True,
    activity: bool = False,
    custom: bool = False,
) -> Table:
    table = Table(
        logical,
        entity_set,
        primary_id,
        primary_name,
        display_name=display,
        display_collection_name=plural,
        change_tracking=tracking,
        is_activity=activity,
        custom=custom,
        object_type_code=code,
    )
    every = [
        Attribute(primary_id, "Uniqueidentifier", f"{display}", valid_for_update=False, required="SystemRequired"),
        *columns,
        *_system(logical),
    ]
    for attribute in every:
        attribute.table = logical
        table.attributes[attribute.logical_name] = attribute
    return table


def _person_columns() -> list[Attribute]:
    return [
        _text("firstname", "First Name", 50),
        _text("lastname", "Last Name", 50),
        _text("fullname", "Full Name", 160, valid_for_create=False, valid_for_update=False),
        _text("emailaddress1", "Email", 100, "Email"),
        _phone("telephone1", "Business Phone"),
        _phone("mobilephone", "Mobile Phone"),
        _text("address1_city", "City", 80),
        _text("address1_stateorprovince", "State/Province", 50),
        _text("address1_postalcode", "ZIP/Postal Code", 20),
        _text("jobtitle", "Job Title", 100),
        Attribute("description", "Memo", "Description", format="TextArea", max_length=2000),
        Attribute("lh_smsoptout", "Boolean", "SMS Opt Out", custom=True, options=((0, "No"), (1, "Yes"))),
        _text("lh_studio", "Studio", 100, custom=True),
        _leadline_id(),
    ]


def _leadline_id() -> Attribute:
    """Leadline's id of the record (two-way sync's upsert key: an alternate key on it keeps it unique)."""
    return _text("lh_leadlineid", "Leadline Id", 100, custom=True)


def _activity_columns(table: str) -> list[Attribute]:
    return [
        _text("subject", "Subject", 200, required="ApplicationRequired"),
        Attribute("description", "Memo", "Description", format="TextArea", max_length=2000),
        Attribute("scheduledend", "DateTime", "Due", format="DateAndTime"),
        Attribute("actualend", "DateTime", "Actual End", format="DateAndTime"),
        _lookup("regardingobjectid", "Regarding", *ACTIVITY_REGARDING),
        Attribute("prioritycode", "Picklist", "Priority", options=PRIORITIES),
        Attribute("activitytypecode", "EntityName", "Activity Type", valid_for_create=False, valid_for_update=False),
        *_owned(table),
    ]


def new_tables() -> dict[str, Table]:
    """A fresh copy of every table (no rows) for a new environment."""
    lead = _table(
        "lead",
        "leads",
        "leadid",
        "fullname",
        "Lead",
        "Leads",
        [
            *_person_columns(),
            _text("subject", "Topic", 300, required="Recommended"),
            _text("companyname", "Company Name", 100),
            _phone("telephone2", "Home Phone"),
            Attribute("leadsourcecode", "Picklist", "Lead Source", options=LEAD_SOURCES),
            _lookup("parentaccountid", "Parent Account for lead", "account"),
            _lookup("parentcontactid", "Parent Contact for lead", "contact"),
            *_owned("lead"),
        ],
        code=4,
    )
    lead.attributes["lastname"].required = "ApplicationRequired"
    contact = _table(
        "contact",
        "contacts",
        "contactid",
        "fullname",
        "Contact",
        "Contacts",
        [
            *_person_columns(),
            _phone("telephone2", "Home Phone"),
            _lookup("parentcustomerid", "Company Name", "account", "contact", kind="Customer"),
            _lookup("originatingleadid", "Originating Lead", "lead"),
            *_owned("contact"),
        ],
        code=2,
    )
    contact.attributes["lastname"].required = "ApplicationRequired"
    account = _table(
        "account",
        "accounts",
        "accountid",
        "name",
        "Account",
        "Accounts",
        [
            _text("name", "Account Name", 160, required="ApplicationRequired"),
            _phone("telephone1", "Main Phone"),
            _text("emailaddress1", "Email", 100, "Email"),
            _text("websiteurl", "Website", 200, "Url"),
            _text("address1_city", "City", 80),
            _text("address1_stateorprovince", "State/Province", 50),
            Attribute("industrycode", "Picklist", "Industry", options=INDUSTRIES),
            _lookup("primarycontactid", "Primary Contact", "contact"),
            _lookup("originatingleadid", "Originating Lead", "lead"),
            _leadline_id(),
            *_owned("account"),
        ],
        code=1,
    )
    for table in (lead, contact, account):
        table.alternate_keys[LEADLINE_KEY] = ("lh_leadlineid",)
    opportunity = _table(
        "opportunity",
        "opportunities",
        "opportunityid",
        "name",
        "Opportunity",
        "Opportunities",
        [
            _text("name", "Topic", 300, required="ApplicationRequired"),
            Attribute("estimatedvalue", "Money", "Est. Revenue"),
            Attribute("estimatedclosedate", "DateTime", "Est. Close Date", format="DateOnly"),
            Attribute("salesstage", "Picklist", "Sales Stage", options=SALES_STAGES),
            _lookup("parentaccountid", "Account", "account"),
            _lookup("parentcontactid", "Contact", "contact"),
            _lookup("originatingleadid", "Originating Lead", "lead"),
            Attribute("description", "Memo", "Description", format="TextArea", max_length=2000),
            *_owned("opportunity"),
        ],
        code=3,
    )
    task = _table(
        "task",
        "tasks",
        "activityid",
        "subject",
        "Task",
        "Tasks",
        _activity_columns("task"),
        code=4212,
        tracking=False,
        activity=True,
    )
    sms = _table(
        "lh_sms",
        "lh_smses",
        "activityid",
        "subject",
        "Text Message",
        "Text Messages",
        [
            *_activity_columns("lh_sms"),
            _text("lh_leadlinemessageid", "Leadline Message Id", 100, custom=True),
            _phone("lh_phonenumber", "Phone Number"),
            Attribute("lh_direction", "Picklist", "Direction", options=DIRECTIONS, custom=True),
        ],
        code=10001,
        activity=True,
        custom=True,
    )
    sms.alternate_keys["lh_leadlinemessageid_key"] = ("lh_leadlinemessageid",)
    systemuser = _table(
        "systemuser",
        "systemusers",
        "systemuserid",
        "fullname",
        "User",
        "Users",
        [
            _text("firstname", "First Name", 64),
            _text("lastname", "Last Name", 64),
            _text("fullname", "Full Name", 200, valid_for_create=False, valid_for_update=False),
            _text("internalemailaddress", "Primary Email", 100, "Email"),
            _text("domainname", "User Name", 1024),
            Attribute("azureactivedirectoryobjectid", "Uniqueidentifier", "Azure AD Object ID"),
            Attribute("applicationid", "Uniqueidentifier", "Application ID"),
            Attribute("isdisabled", "Boolean", "Status", options=((0, "Enabled"), (1, "Disabled"))),
            Attribute(
                "accessmode",
                "Picklist",
                "Access Mode",
                options=(
                    (0, "Read-Write"),
                    (1, "Administrative"),
                    (2, "Read"),
                    (3, "Support User"),
                    (4, "Non-interactive"),
                    (5, "Delegated Admin"),
                ),
            ),
            _phone("mobilephone", "Mobile Phone"),
            _lookup("businessunitid", "Business Unit", "businessunit"),
        ],
        code=8,
        tracking=True,
    )
    businessunit = _table(
        "businessunit",
        "businessunits",
        "businessunitid",
        "name",
        "Business Unit",
        "Business Units",
        [_text("name", "Name", 160, required="SystemRequired")],
        code=10,
        tracking=False,
    )
    tables = [lead, contact, account, opportunity, task, sms, systemuser, businessunit]
    return {table.logical_name: table for table in tables}
