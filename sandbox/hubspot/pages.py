"""The few HTML pages the HubSpot emulator shows people (the install consent, its errors, a record): one look."""

from __future__ import annotations

import html

from werkzeug.wrappers import Response

_LOOK = (
    "body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;color:#33475b}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #eaf0f6;padding:.25rem .75rem;text-align:left}"
    ".muted{color:#7c98b6}.error{color:#d94c53}li{margin:.25rem 0}select,button{padding:.4rem .8rem;margin:.3rem 0}"
)


def page(title: str, body: str, status: int = 200) -> Response:
    """`body` is HTML already escaped by the caller; the title is escaped here."""
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_LOOK}</style></head><body>{body}</body></html>"
    )
    return Response(text, status=status, mimetype="text/html")
