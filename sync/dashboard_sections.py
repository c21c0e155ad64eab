"""Sections other apps add to the sync dashboard (`/ops/sync/`), so the mirror's page shows what is built on it
(two-way sync links) without sync importing those apps: an app registers a section from its AppConfig.ready().

    @dashboard_section(key="links", title="Two-way sync links", template="links/dashboard_section.html")
    def links_section(*, manager, organization, now): ...   # what the template gets as `section.data`

The read gets the page's scope as sync_dashboard_get does: a manager (their organization), or `manager=None` for an
operator with every organization or the one chosen. It must scope its own queries to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SectionRead = Callable[..., Any]


@dataclass(frozen=True)
class DashboardSection:
    key: str
    title: str
    template: str
    read: SectionRead
    position: int = 100


@dataclass(frozen=True)
class SectionShown:
    """A section as one request sees it: its declaration and what its read returned."""

    section: DashboardSection
    data: Any

    @property
    def key(self) -> str:
        return self.section.key

    @property
    def title(self) -> str:
        return self.section.title

    @property
    def template(self) -> str:
        return self.section.template


_sections: dict[str, DashboardSection] = {}


def dashboard_section(
    *, key: str, title: str, template: str, position: int = 100
) -> Callable[[SectionRead], SectionRead]:
    """Register `read` as the dashboard section `key` (registering a key again replaces it: a reloaded module)."""

    def register(read: SectionRead) -> SectionRead:
        _sections[key] = DashboardSection(key=key, title=title, template=template, read=read, position=position)
        return read

    return register


def dashboard_sections() -> list[DashboardSection]:
    return sorted(_sections.values(), key=lambda section: (section.position, section.key))


def dashboard_sections_read(*, manager: Any, organization: Any, now: datetime) -> list[SectionShown]:
    return [
        SectionShown(section=section, data=section.read(manager=manager, organization=organization, now=now))
        for section in dashboard_sections()
    ]
