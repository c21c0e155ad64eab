"""The field metadata of both sides of a link, cached: the planner converts every value by its field's type, and
asking the CRM for an object's fields per chunk of changes would cost a call each time.

    spec = object_spec_cached(connection=link.connection_a, object="lead")
    specs = link_specs(link)          # LinkObject id -> (side A's ObjectSpec, side B's)

A cache miss asks the CRM (`provider.object_spec`): callers warm the specs before opening a transaction (no CRM call
inside one), and pass them on.
"""

from __future__ import annotations

from django.core.cache import cache

from crm.records import ObjectSpec
from crm.registry import provider_for

# Ten minutes: a field a person adds in the CRM is seen by the link soon enough, without a call per chunk.
SPEC_TTL_SECONDS = 600


def spec_cache_key(connection, object: str) -> str:
    """By the connection's id and creation time: a database rebuilt beside a kept cache (a restore, a test run)
    reuses ids, never with the same creation time."""
    created = getattr(connection, "created_at", None)
    stamp = int(created.timestamp() * 1_000_000) if created else 0
    return f"links:spec:{connection.pk}:{stamp}:{object}"


def object_spec_cached(*, connection, object: str, refresh: bool = False) -> ObjectSpec:
    """An object's spec on a connection, from the cache or else from the CRM (CrmError propagates)."""
    key = spec_cache_key(connection, object)
    if not refresh:
        spec = cache.get(key)
        if spec is not None:
            return spec
    spec = provider_for(connection).object_spec(object=object)
    cache.set(key, spec, SPEC_TTL_SECONDS)
    return spec


def object_spec_prime(*, connection, object: str, spec: ObjectSpec) -> None:
    """Put a spec in the cache as if the CRM had given it (the spec just read by someone else, or a test's)."""
    cache.set(spec_cache_key(connection, object), spec, SPEC_TTL_SECONDS)


def link_specs(link, *, refresh: bool = False) -> dict[int, tuple[ObjectSpec, ObjectSpec]]:
    """Every LinkObject of the link, by id: (the spec of object_a on side A, of object_b on side B)."""
    from links.models import LinkObject

    connection_a, connection_b = link.connection_a, link.connection_b
    specs = {}
    for link_object in LinkObject.objects.unscoped().filter(link=link):
        specs[link_object.pk] = (
            object_spec_cached(connection=connection_a, object=link_object.object_a, refresh=refresh),
            object_spec_cached(connection=connection_b, object=link_object.object_b, refresh=refresh),
        )
    return specs
