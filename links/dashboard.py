"""The two-way sync links on the sync dashboard (`/ops/sync/`): each link's state, lag, pending, failed writes,
conflicts and open reviews, and what blocks it, with links to the admin's failed-writes queue and review list.

Registered with sync's section registry (sync/dashboard_sections.py) when the app is ready: sync never imports
links. Scoped as the page is: a manager's organization, or for an operator every organization or the one chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from links.models import LinkWrite
from links.selectors import LinkStatus, links_status
from sync.dashboard_sections import dashboard_section


@dataclass
class LinkRow:
    status: LinkStatus
    failed_url: str
    reviews_url: str
    link_url: str


def admin_urls(link_id: int) -> dict[str, str]:
    """The admin pages of one link: its failed writes, its open reviews, the link itself."""
    failed = urlencode({"link__id__exact": link_id, "state": LinkWrite.State.FAILED})
    reviews = urlencode({"link__id__exact": link_id, "state": "open"})
    return {
        "failed_url": f"{reverse('admin:links_linkwrite_changelist')}?{failed}",
        "reviews_url": f"{reverse('admin:links_matchreview_changelist')}?{reviews}",
        "link_url": reverse("admin:links_synclink_change", args=[link_id]),
    }


@dashboard_section(key="links", title="Two-way sync links", template="links/dashboard_section.html", position=10)
def links_section(*, manager: Any, organization: Any, now: datetime) -> list[LinkRow]:
    if manager is not None:
        organization = manager.organization  # a manager never sees another organization, whatever was asked
    return [
        LinkRow(status=status, **admin_urls(status.link.pk))
        for status in links_status(organization=organization, now=now)
    ]
