"""A portal's associations between records: both directions kept, each with its own type ids (an association
made one way shows the inverse type the other way, as HubSpot's v4 API answers).

`links[(object type, record id)] -> {(other type, other id): {type id, ...}}`. Types are catalog.py's
`AssociationType`s; the unlabeled default and labeled ones (contact -> company "Primary") may sit on one pair.
Reads skip records that are archived (the caller passes `alive`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sandbox.hubspot.catalog import AssociationType, association_type, default_association

Side = tuple[str, str]  # (object type name, record id)


class AssociationStore:
    def __init__(self) -> None:
        self.links: dict[Side, dict[Side, set[int]]] = {}
        self.lock = threading.RLock()

    def add(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None
    ) -> AssociationType:
        """Associate two records (the pair's unlabeled type when `type_id` is None); ValueError when the type is
        not one of the pair's."""
        kind = (
            default_association(from_type, to_type)
            if type_id is None
            else association_type(from_type, to_type, int(type_id))
        )
        if kind is None:
            raise ValueError(f"{type_id} is not a valid association type from {from_type} to {to_type}")
        with self.lock:
            self.links.setdefault((from_type, str(from_id)), {}).setdefault((to_type, str(to_id)), set()).add(
                kind.type_id
            )
            self.links.setdefault((to_type, str(to_id)), {}).setdefault((from_type, str(from_id)), set()).add(
                kind.inverse_id
            )
            if kind.label is not None:  # a labeled association always comes with the unlabeled one
                plain = default_association(from_type, to_type)
                if plain is not None:
                    self.links[(from_type, str(from_id))][(to_type, str(to_id))].add(plain.type_id)
                    self.links[(to_type, str(to_id))][(from_type, str(from_id))].add(plain.inverse_id)
        return kind

    def remove(self, from_type: str, from_id: str, to_type: str, to_id: str) -> bool:
        with self.lock:
            gone = self.links.get((from_type, str(from_id)), {}).pop((to_type, str(to_id)), None)
            self.links.get((to_type, str(to_id)), {}).pop((from_type, str(from_id)), None)
        return gone is not None

    def of(
        self, from_type: str, from_id: str, to_type: str, *, alive: Callable[[str, str], bool] | None = None
    ) -> list[tuple[str, list[int]]]:
        """(other id, type ids) of one record's associations to a type, by other id ascending."""
        with self.lock:
            found = [
                (other_id, sorted(types))
                for (other_type, other_id), types in self.links.get((from_type, str(from_id)), {}).items()
                if other_type == to_type and types and (alive is None or alive(other_type, other_id))
            ]
        found.sort(key=lambda item: int(item[0]) if item[0].isdigit() else item[0])
        return found

    def drop_type(self, from_type: str, from_id: str, to_type: str, type_id: int, inverse_id: int) -> list[str]:
        """Take one association type off every association of a record to a type (a contact's previous primary
        company loses "Primary" when another one gets it); the other ids it was on."""
        touched = []
        with self.lock:
            for (other_type, other_id), types in self.links.get((from_type, str(from_id)), {}).items():
                if other_type == to_type and type_id in types:
                    types.discard(type_id)
                    self.links.get((other_type, other_id), {}).get((from_type, str(from_id)), set()).discard(inverse_id)
                    touched.append(other_id)
        return touched

    def drop_record(self, object_type: str, record_id: str) -> None:
        """Forget every association of a record (a merge moves them first)."""
        with self.lock:
            for other in self.links.pop((object_type, str(record_id)), {}):
                self.links.get(other, {}).pop((object_type, str(record_id)), None)

    def move(self, object_type: str, from_id: str, to_id: str) -> None:
        """Give one record's associations to another (a merge: the secondary's go to the primary)."""
        with self.lock:
            for (other_type, other_id), types in list(self.links.get((object_type, str(from_id)), {}).items()):
                for type_id in types:
                    back = self.links.get((other_type, other_id), {}).get((object_type, str(from_id)), set())
                    self.links.setdefault((object_type, str(to_id)), {}).setdefault((other_type, other_id), set()).add(
                        type_id
                    )
                    self.links.setdefault((other_type, other_id), {}).setdefault(
                        (object_type, str(to_id)), set()
                    ).update(back)
            self.drop_record(object_type, from_id)

    def count(self) -> int:
        with self.lock:
            return sum(len(others) for others in self.links.values())
