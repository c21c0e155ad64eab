"""The owners API: a portal's users who can own records (both path families: `/hubspot/crm/v3/owners/` and
`/hubspot/crm/owners/<YYYY-MM>/`). Scope `crm.objects.owners.read`.

- `GET owners/?email=&limit=&after=&archived=` -> {results: [owner], paging?}; `limit` 100 by default, at most
  500; `after` is the last owner id of the previous page.
- `GET owners/{id}?idProperty=id|userId&archived=` -> one owner; 404 OBJECT_NOT_FOUND.

An owner: {id, email, type: "PERSON", firstName, lastName, userId, userIdIncludingInactive, createdAt, updatedAt,
archived, teams}. Owner ids (what records' `hubspot_owner_id` hold) differ from user ids (what token info gives).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import Call, Problem, both_families, hs_endpoint, not_found, validation_error
from sandbox.hubspot.objects import page_limit
from sandbox.kit.http import json_response

SCOPES = ("crm.objects.owners.read",)


def owner_json(owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(owner["id"]),
        "email": owner.get("email"),
        "type": owner.get("type", "PERSON"),
        "firstName": owner.get("firstName", ""),
        "lastName": owner.get("lastName", ""),
        "userId": owner.get("userId"),
        "userIdIncludingInactive": owner.get("userId"),
        "createdAt": owner.get("createdAt"),
        "updatedAt": owner.get("updatedAt"),
        "archived": bool(owner.get("archived")),
        "teams": owner.get("teams", []),
    }


@hs_endpoint(scopes=SCOPES)
def list_owners(call: Call) -> Response:
    limit = page_limit(call, default=100, cap=500)
    email = (call.arg("email") or "").lower()
    archived = call.flag("archived")
    after = call.arg("after")
    if after is not None and not after.isdigit():
        raise Problem(validation_error(f"after must be an owner id cursor, not {after!r}"))
    owners = sorted(
        (
            owner
            for owner in call.portal.owners
            if bool(owner.get("archived")) == archived
            and (not email or str(owner.get("email", "")).lower() == email)
            and (after is None or int(owner["id"]) > int(after))
        ),
        key=lambda owner: int(owner["id"]),
    )
    page = owners[:limit]
    body: dict[str, Any] = {"results": [owner_json(owner) for owner in page]}
    if len(owners) > limit:
        last = str(page[-1]["id"])
        params = [(key, value) for key, value in call.request.args.items(multi=True) if key != "after"]
        body["paging"] = {
            "next": {"after": last, "link": f"{call.request.base_url}?{urlencode([*params, ('after', last)])}"}
        }
    return json_response(body)


@hs_endpoint(scopes=SCOPES)
def read_owner(call: Call, owner_id: str) -> Response:
    by_user = (call.arg("idProperty") or "id") == "userId"
    owner = call.portal.owner(owner_id, by_user=by_user)
    if owner is None or bool(owner.get("archived")) != call.flag("archived"):
        return not_found(f"Owner {owner_id} not found", id=[owner_id])
    return json_response(owner_json(owner))


ROUTES = [
    *both_families("owners", "/", ["GET"], list_owners),
    *both_families("owners", "/<owner_id>", ["GET"], read_owner),
]
