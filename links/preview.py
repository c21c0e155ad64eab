"""The preview (dry run) of a link's first sync: per object pair, what starting it would do, from the two mirrors.

    preview = link_preview(link)   # also kept on link.preview / link.preview_at
    preview["objects"][0]          # {"object": "lead ⇄ contact", "matched": 48, "create_b": 99, "update_a": 31, ...}

Matched records come from links.matching (the same rules the start uses), updates and conflicts of the matched pairs
from the planner's first-contact comparison (links.planner.pair_differences), so the preview says what the start
will do; the configuration's problems (links.config) are listed too. Nothing but the link's preview is written.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.utils import timezone

from crm.errors import CrmRejected
from crm.records import ObjectSpec
from links.config import connection_problems, link_problems, mirror_problems
from links.conversions import conversion_context
from links.matching import UNDER_REVIEW, Match, MirrorSide, chunks, counterparts, free_ids, rows_by_id
from links.metadata import link_specs
from links.models import LinkField, LinkObject, RecordPair, Side, SyncLink
from links.planner import pair_differences

EXAMPLES = 5


def _example(examples: list[dict[str, Any]], item: dict[str, Any]) -> None:
    if len(examples) < EXAMPLES:
        examples.append(item)


def object_preview(link_object: LinkObject, specs: tuple[ObjectSpec, ObjectSpec], context: Any = None) -> dict:
    """What starting the link would do for one object pair, from the two mirrors (nothing written)."""
    side_a = MirrorSide(link_object, Side.A, specs[0])
    side_b = MirrorSide(link_object, Side.B, specs[1])
    counts: dict[str, Any] = {
        "object": str(link_object),
        "link_object": link_object.pk,
        "linked": RecordPair.objects.for_organization(side_a.organization).filter(link_object=link_object).count(),
        "matched": 0,
        "matched_by": {},
        "create_a": 0,
        "create_b": 0,
        "update_a": None,
        "update_b": None,
        "conflicts": None,
        "ambiguous": 0,
        "examples": {key: [] for key in ("matched", "create_a", "create_b", "update_a", "update_b", "conflicts")}
        | {"ambiguous": []},
    }
    examples = counts["examples"]
    ids_a = free_ids(side_a)
    matches_a = counterparts(link_object=link_object, side=Side.A, external_ids=ids_a, specs=specs)
    pairs = {record_id: m.candidates[0] for record_id, m in matches_a.items() if not m.ambiguous}
    matched_by: dict[str, int] = defaultdict(int)
    for record_id, match in matches_a.items():
        if match.ambiguous:
            counts["ambiguous"] += 1
            _example(examples["ambiguous"], _ambiguous_example(Side.A, record_id, match))
        else:
            matched_by[match.matched_by] += 1
            _example(
                examples["matched"],
                {"a": record_id, "b": match.candidates[0], "by": match.matched_by, "value": match.value},
            )
    counts["matched"] = len(pairs)
    counts["matched_by"] = dict(matched_by)
    lonely_a = [record_id for record_id in ids_a if record_id not in matches_a]
    if link_object.create_b:
        counts["create_b"] = len(lonely_a)
        for record_id in lonely_a[:EXAMPLES]:
            _example(examples["create_b"], {"a": record_id})
    # Side B's records no match of side A took: their own candidates (side A's matched records are spoken for).
    matched_b = set(pairs.values())
    ids_b = [record_id for record_id in free_ids(side_b) if record_id not in matched_b]
    matches_b = counterparts(link_object=link_object, side=Side.B, external_ids=ids_b, specs=specs, taken=set(pairs))
    # As the start will see them: side A's ambiguous records are under review, so side B's matching one is too.
    reviewed_a = {record_id for record_id, match in matches_a.items() if match.ambiguous}
    for record_id, match in matches_b.items():
        if not match.ambiguous and match.candidates[0] in reviewed_a:
            match = Match(match.candidates, match.matched_by, match.value, (UNDER_REVIEW,))
        if match.ambiguous:
            counts["ambiguous"] += 1
            _example(examples["ambiguous"], _ambiguous_example(Side.B, record_id, match))
    lonely_b = [record_id for record_id in ids_b if record_id not in matches_b]
    if link_object.create_a:
        counts["create_a"] = len(lonely_b)
        for record_id in lonely_b[:EXAMPLES]:
            _example(examples["create_a"], {"b": record_id})
    _differences(link_object, specs, pairs, side_a, side_b, counts, context)
    return counts


def _ambiguous_example(side: str, record_id: str, match: Match) -> dict[str, Any]:
    return {
        "side": side,
        "id": record_id,
        "candidates": list(match.candidates),
        "claimed_by": list(match.claimed_by),
        "by": match.matched_by,
        "value": match.value,
    }


def _differences(
    link_object: LinkObject,
    specs: tuple[ObjectSpec, ObjectSpec],
    pairs: dict[str, str],
    side_a: MirrorSide,
    side_b: MirrorSide,
    counts: dict[str, Any],
    context: Any,
) -> None:
    """Updates and conflicts of the matched pairs: what the first sync would write to each (the engine's
    first-contact comparison)."""
    counts.update(update_a=0, update_b=0, conflicts=0)
    link_fields = list(LinkField.objects.for_organization(side_a.organization).filter(link_object=link_object))
    examples = counts["examples"]
    ids = sorted(pairs)
    for chunk in chunks(ids):
        rows_a = rows_by_id(side_a, chunk)
        rows_b = rows_by_id(side_b, [pairs[record_id] for record_id in chunk])
        for record_id in chunk:
            diff = pair_differences(
                link_object=link_object,
                row_a=rows_a.get(record_id),
                row_b=rows_b.get(pairs[record_id]),
                specs=specs,
                context=context,
                link_fields=link_fields,
            )
            pair = {"a": record_id, "b": pairs[record_id]}
            if diff.to_a:
                counts["update_a"] += 1
                _example(examples["update_a"], pair | {"fields": sorted(diff.to_a)})
            if diff.to_b:
                counts["update_b"] += 1
                _example(examples["update_b"], pair | {"fields": sorted(diff.to_b)})
            for link_field, winner, rule in diff.conflicts:
                counts["conflicts"] += 1
                _example(
                    examples["conflicts"],
                    pair | {"field": str(link_field), "winner": winner, "rule": rule},
                )


def link_preview(link: SyncLink, *, specs: dict[int, tuple[ObjectSpec, ObjectSpec]] | None = None) -> dict:
    """A dry run of starting the link, per object pair: matched (by rule), to create on each side, to update on each
    side, conflicts, ambiguous, with a few examples each; and the configuration's problems (links.config), which
    would stop the start. Stored on the link (`preview`, `preview_at`); nothing else is written. Reads the field
    metadata of both CRMs (`specs` when the caller has them): never inside a transaction."""
    # A mirror that never finished a load: the counts are of the part it holds, and the start would be refused.
    problems = link_problems(link, specs=specs) + mirror_problems(link)
    if specs is None and not connection_problems(link):  # never ask a connection that is not the link's to ask
        try:
            specs = link_specs(link)
        except (ValueError, CrmRejected):  # an object a CRM does not have: the problems say which
            specs = None
    context = conversion_context(link)
    objects = []
    link_objects = LinkObject.objects.for_organization(link.organization).filter(link=link).select_related("link")
    for link_object in link_objects if specs is not None else ():
        objects.append(object_preview(link_object, specs[link_object.pk], context))
    now = timezone.now()
    preview = {"made_at": now.isoformat(), "problems": problems, "objects": objects}
    SyncLink.objects.for_organization(link.organization).filter(pk=link.pk).update(preview=preview, preview_at=now)
    link.preview, link.preview_at = preview, now
    return preview
