"""Message templates with merge fields: one small parser used both to validate a template when it is saved and to
render it when a text goes out.

The language is deliberately tiny, so that what a manager types (and what the CRM holds) can never become code:

- `{name}` is a merge field; it must be one of the fields the caller allows;
- `{name|fallback}` uses `fallback` (plain text: no braces, at most FALLBACK_MAX_LENGTH characters; empty is
  allowed and means "may be blank") when the field is blank;
- `{{` and `}}` are a literal `{` and `}` (as before);
- nothing else: no format specs (`{first_name:>50}`), conversions (`{first_name!r}`), attribute or index access
  (`{first_name.x}`, `{first_name[0]}`), positional fields (`{}`, `{0}`) or nested braces.

`str.format` is not used anywhere: a format spec can make one field render hundreds of megabytes, and a spec
built from another field lets CRM data steer the formatting. A field used without a fallback is required: when
its value is blank, `render` reports it in `missing` and the caller must not send the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TEMPLATE_MAX_LENGTH = 1600  # a text's limit: a longer template could never be sent
FALLBACK_MAX_LENGTH = 60
RENDERED_MAX_LENGTH = 10_000  # far above any text; a guard, not a limit anyone reaches with real data
MAX_FIELDS = 50

_TOKEN = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}]")
_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


class TemplateError(ValueError):
    """The template is not valid; `str(error)` says why in words a manager understands."""


@dataclass(frozen=True)
class Field:
    name: str
    fallback: str | None  # None: required

    @property
    def token(self) -> str:
        return "{" + self.name + "}"


@dataclass(frozen=True)
class Rendered:
    text: str  # missing fields stay as their {token}, so a preview shows where they go
    missing: tuple[str, ...]  # required fields that are blank, in order of first use

    @property
    def reason(self) -> str:
        """Why the text cannot be sent, or "" when it can."""
        if not self.missing:
            return ""
        tokens = " and ".join("{" + name + "}" for name in self.missing)
        verb = "is" if len(self.missing) == 1 else "are"
        return f"{tokens} {verb} blank and {'has' if len(self.missing) == 1 else 'have'} no fallback"


def _field(inner: str) -> Field:
    name, bar, fallback = inner.partition("|")
    shown = "{" + inner[:40] + ("…" if len(inner) > 40 else "") + "}"
    if not _NAME.match(name):
        if ":" in name:
            why = "format specs (':…') are not supported"
        elif "!" in name:
            why = "conversions ('!r', '!s') are not supported"
        elif "." in name or "[" in name or "]" in name:
            why = "attribute and index access are not supported"
        elif not name.strip():
            why = "a merge field needs a name"
        elif name.strip() != name:
            why = "remove the spaces inside the braces"
        else:
            why = "a merge field name is lower-case letters, digits and underscores"
        raise TemplateError(f"{shown}: {why}. Use a plain field such as {{first_name}} or {{first_name|there}}.")
    if bar and len(fallback) > FALLBACK_MAX_LENGTH:
        raise TemplateError(f"{shown}: a fallback is at most {FALLBACK_MAX_LENGTH} characters.")
    if bar and any(ch in fallback for ch in "\r\n"):
        raise TemplateError(f"{shown}: a fallback is one line of plain text.")
    return Field(name=name, fallback=fallback if bar else None)


def parse(template: str) -> list[str | Field]:
    """The template as literal text and fields, or TemplateError."""
    if len(template) > TEMPLATE_MAX_LENGTH:
        raise TemplateError(f"A template is at most {TEMPLATE_MAX_LENGTH} characters; this one has {len(template)}.")
    parts: list[str | Field] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(template):
        literal.append(template[position : match.start()])
        position = match.end()
        piece = match.group()
        if piece in ("{{", "}}"):
            literal.append(piece[0])
        elif piece == "{":
            raise TemplateError(
                f"A '{{' at character {match.start() + 1} is not closed, or a field contains another brace; "
                "write {{ for a literal brace."
            )
        elif piece == "}":
            raise TemplateError(
                f"A '}}' at character {match.start() + 1} closes nothing; write }}}} for a literal brace."
            )
        else:
            parts.append("".join(literal))
            literal = []
            parts.append(_field(piece[1:-1]))
    literal.append(template[position:])
    parts.append("".join(literal))
    if sum(isinstance(part, Field) for part in parts) > MAX_FIELDS:
        raise TemplateError(f"A template uses at most {MAX_FIELDS} merge fields.")
    return [part for part in parts if part != ""]


def validate(template: str, *, allowed: Iterable[str]) -> list[Field]:
    """The template's fields, or TemplateError naming the problem (syntax first, then every unknown field)."""
    fields = [part for part in parse(template) if isinstance(part, Field)]
    allowed = frozenset(allowed)
    unknown = sorted({field.name for field in fields if field.name not in allowed})
    if unknown:
        raise TemplateError(
            f"Unknown merge field(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"available: {', '.join('{' + n + '}' for n in sorted(allowed))}."
        )
    return fields


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def render(template: str, context: Mapping[str, Any], *, allowed: Iterable[str]) -> Rendered:
    """Fill the fields from `context` (a field not in it is blank). Refuses (TemplateError) a template that does not
    validate, whatever path it came by, and an output over RENDERED_MAX_LENGTH."""
    validate(template, allowed=allowed)
    out: list[str] = []
    size = 0
    missing: list[str] = []
    for part in parse(template):
        if isinstance(part, str):
            piece = part
        else:
            value = _text(context.get(part.name)).strip()
            if value:
                piece = value
            elif part.fallback is not None:
                piece = part.fallback
            else:
                piece = part.token
                if part.name not in missing:
                    missing.append(part.name)
        size += len(piece)
        if size > RENDERED_MAX_LENGTH:
            raise TemplateError(f"The rendered text would be over {RENDERED_MAX_LENGTH} characters.")
        out.append(piece)
    return Rendered(text="".join(out).strip(), missing=tuple(missing))
