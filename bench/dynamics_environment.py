"""The emulated Dataverse environment of bench/sync_mirror_dynamics.py: Leadline's app consented in a new tenant with
its application user, leads as a studio chain's environment holds them (names, e-mails, phones in the formats people
type, lead sources, owners, addresses, custom `lh_` columns), a share of them edited or deleted in place. Built through
the emulator's state in the parent process (100,000 leads through the Web API would take minutes)."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

TABLE = "lead"


class EmulatedEnvironment:
    """One environment on the emulator, built through its state (the parent holds the emulator)."""

    def __init__(self, server: Any, *, name: str, seed: int = 7) -> None:
        self.server = server
        self.environment = server.state.dynamics.create_environment(name, organization_name=f"{name.title()} Gyms")
        self.random = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.ids: list[str] = []

    def seed(self, count: int) -> None:
        """`count` leads, created and modified over the past months (the emulator's generator), owners spread."""
        from sandbox.dynamics.seed import seed_rows

        self.ids = seed_rows(self.environment, TABLE, count, seed=7)

    def edit(self, share: float, *, at: datetime) -> int:
        """A share of the leads edited in place by people (a new version each, so change tracking reports them;
        `modifiedon` at `at`); returns how many."""
        chosen = self.random.sample(self.ids, int(len(self.ids) * share))
        table = self.environment.tables[TABLE]
        with self.environment.lock:
            for number, lead_id in enumerate(chosen):
                row = table.rows[lead_id]
                row["description"] = f"Edited after the first load (#{number})"
                row["jobtitle"] = ("Teacher", "Nurse", "Engineer", "Coach")[number % 4]
                row["modifiedon"] = at
                row["versionnumber"] = self.environment.next_version()
        return len(chosen)

    def delete(self, count: int) -> list[str]:
        """`count` leads deleted by a person (tombstones change tracking reports)."""
        gone = self.ids[-count:]
        people = [row for row in self.environment.rows("systemuser") if not row.get("applicationid")]
        person = people[0]["systemuserid"]
        for lead_id in gone:
            self.environment.delete(TABLE, lead_id, by=person)
        self.ids = self.ids[:-count]
        return gone

    def expire_tokens(self) -> None:
        """Every delta token issued so far expires (an environment past its change-tracking retention)."""
        with self.environment.lock:  # tokens name the version their read began at: the next one is valid
            self.environment.token_floor_version = self.environment.next_version()


def organization_create(slug: str, server: Any, environment: EmulatedEnvironment) -> int:
    """An organization whose default CRM connection is the emulated environment, connected as an admin's consent
    and the connect's WhoAmI leave it (tenant, organization id, application user)."""
    from bench.mirror_report import organization_with_crm
    from crm.providers.dynamics.conf import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
    from crm.providers.dynamics.models import DynamicsConnection
    from studios.models import Organization, ProviderAccount

    env = environment.environment
    organization_id = organization_with_crm(
        slug,
        kind="dynamics",
        brand="Gyms",
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        accounts_url=server.tls_url,
        api_domain=env.url,
    )
    organization = Organization.objects.unscoped().get(pk=organization_id)
    account = ProviderAccount.unscoped_objects.get(organization=organization, kind="dynamics")
    application_user = env.application_user(DEMO_CLIENT_ID)
    DynamicsConnection.unscoped_objects.create(
        organization=organization,
        account=account,
        state=DynamicsConnection.State.CONNECTED,
        tenant_id=env.tenant_id,
        environment_url=env.url,
        org_id=env.organization_id,
        organization_name=env.organization_name,
        application_user_id=application_user["systemuserid"] if application_user else "",
    )
    return organization_id
