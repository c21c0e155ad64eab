"""What applying a tenants file did, per section: created, updated, unchanged."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

SECTIONS = ("organizations", "accounts", "studios", "numbers", "members")


@dataclass
class ApplyReport:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    dry_run: bool = False

    def count(self, section: str, outcome: str) -> None:
        getattr(self, outcome)[section] += 1

    @property
    def changed(self) -> bool:
        return bool(sum(self.created.values()) or sum(self.updated.values()))

    def lines(self) -> list[str]:
        return [
            f"{section}: {self.created[section]} created, {self.updated[section]} updated, "
            f"{self.unchanged[section]} unchanged"
            for section in SECTIONS
        ]
