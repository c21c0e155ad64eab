"""The mirror table's indexes: each one serves a query (docs/sync.md, Performance)."""

from __future__ import annotations

import pytest

from django.db import connection


@pytest.mark.django_db
def test_the_mirror_table_has_no_gin_index_and_keeps_its_unique_key():
    if connection.vendor != "postgresql":
        pytest.skip("indexes of the PostgreSQL schema")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sync_crmrecord'")
        indexes = dict(cursor.fetchall())
    assert not [name for name, definition in indexes.items() if "USING gin" in definition]  # migration 0007
    assert "UNIQUE" in indexes["crm_record_unique"]  # the upsert's arbiter
