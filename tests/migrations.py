"""Testing a data migration on a database holding the old schema's data:

    @pytest.mark.django_db(transaction=True)
    def test_rows_survive(migrations):
        old = migrations.to(("studios", "0002_provider_account_custom_endpoints"))
        old.get_model("studios", "Organization").objects.create(...)
        new = migrations.to(("studios", "0003_member_crm_users"))
        ...

The fixture migrates back to the given nodes, hands out the historical models, and leaves the database at the
latest migrations whatever the test did (the next transactional test gets the schema it expects)."""

from __future__ import annotations

import pytest

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


class Migrations:
    def to(self, *targets: tuple[str, str]):
        """Migrate to `targets` (app, migration name) and return the historical app registry there."""
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(list(targets))
        return MigrationExecutor(connection).loader.project_state(list(targets)).apps

    def latest(self) -> None:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def migrations():
    runner = Migrations()
    try:
        yield runner
    finally:
        runner.latest()
