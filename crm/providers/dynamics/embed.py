"""The widget inside a Dynamics 365 model-driven app form: the customer adds an iframe (or an HTML web resource
framing it) to the lead, contact, account or opportunity form, pointing at `/app/?crm=dynamics`, with "Pass record
object-type code and unique identifier as parameters" on, so Dynamics appends the open record to the URL
(`typename=lead&id={<guid>}&orgname=...`; docs/crm/dynamics.md, "The widget on a form"). Our glue
(static/crm/dynamics/embed.js) reads it and opens that record's conversation; the sign-in offered is "Sign in with
Microsoft". Dynamics needs no SDK loaded by the framed page, so `sdk_url` is empty.

Who may frame the page: the environments' own origins (https://<org>.crm[N].dynamics.com and the sovereign clouds'
hosts, the same hosts a manager may connect: hosts.py), not all of dynamics.com; in development also the sandbox,
whose record page (main.aspx) frames the widget as a form would."""

from __future__ import annotations

from django.conf import settings

from core import outbound
from crm.providers.dynamics.hosts import ENVIRONMENT_HOSTS
from crm.records import Embed


def frame_ancestors() -> tuple[str, ...]:
    """The origins that may frame the widget (the sandbox's only when DEBUG is on)."""
    origins = tuple(f"https://{host}" for host in ENVIRONMENT_HOSTS)
    sandbox = outbound.origin_of(str(getattr(settings, "SANDBOX_URL", "") or "")) if settings.DEBUG else ""
    return (*origins, sandbox) if sandbox else origins


DYNAMICS_EMBED = Embed(script="crm/dynamics/embed.js", sdk_url="", frame_ancestors=frame_ancestors())
