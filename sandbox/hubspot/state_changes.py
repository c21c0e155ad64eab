"""Who changed what: `Source` (changeSource and sourceId, as webhooks tell them), the `Change` a portal announces
to listeners for each record it writes (state.py documents the hook), and each property's value history
(propertiesWithHistory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """Who made a change, as webhooks tell it: changeSource and sourceId."""

    change_source: str  # INTEGRATION (an app's API call), CRM_UI (a person in HubSpot), IMPORT, ...
    source_id: str | None = None  # the app id for INTEGRATION, the user id for CRM_UI
    app_id: str | None = None

    @classmethod
    def integration(cls, app_id: str | None) -> Source:
        return cls("INTEGRATION", str(app_id) if app_id is not None else None, str(app_id) if app_id else None)

    @classmethod
    def ui(cls, user_id: str | int | None = None) -> Source:
        return cls("CRM_UI", str(user_id) if user_id is not None else None)


SYSTEM = Source("CRM_UI")  # the control API when it names nobody


@dataclass
class Change:
    """One record's change, for listeners (webhooks): operation is creation | propertyChange | deletion | merge |
    restore | associationChange | privacyDeletion."""

    portal_id: int
    object_type: str  # "contacts"
    object_type_id: str  # "0-1"
    operation: str
    object_id: str
    properties: dict[str, str]  # creation: the values set; propertyChange: the changed names -> new values
    source: Source
    occurred_at: int  # epoch milliseconds
    merged_ids: list[str] = field(default_factory=list)  # merge: the secondary ids (object_id is the primary)
    association: dict[str, Any] | None = None  # associationChange: {toObjectType, toObjectId, typeId, removed}


HISTORY_KEEP = 20  # values kept per property for propertiesWithHistory


def with_history(history: Record | None, changed: dict[str, str], stamp: str, source: Source) -> Record:
    """A record's value history (`_history`: {property: [{value, timestamp, sourceType, sourceId?}], newest first})
    with the changed values added."""
    found = dict(history or {})
    for name, value in changed.items():
        entry = {"value": value, "timestamp": stamp, "sourceType": source.change_source}
        if source.source_id:
            entry["sourceId"] = source.source_id
        found[name] = [entry, *found.get(name, ())][:HISTORY_KEEP]
    return found
