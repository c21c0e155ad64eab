"""What the CRM contract suite needs from a provider's emulator: one `Harness` class per CRM kind, in
`tests/crm/harness_<kind>.py`, driving the vendor's emulator on the sandbox through its control API.

The contract tests (tests/crm/test_contract.py) speak only to the provider under test and to this interface, so a
new CRM passes the same tests by writing its provider, its emulator and a harness; nothing in the tests changes.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crm.provider import CrmProvider
from crm.records import Subscription
from crm.registry import provider_for


class SleepRecorder:
    """Stands in for time.sleep in a provider's backoff: records the waits, waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class ContractHarness(abc.ABC):
    """A CRM's emulator, seen by the contract suite. `server` is the sandbox the harness's fixture served (a
    fresh empty world per test); `organization` the Leadline tenant the connection belongs to."""

    kind: str = ""
    sandbox_fixture: str = "empty_sandbox"
    # The vendor's names of the lead fields the contract writes and reads.
    opt_out_field: str = ""
    phone_field: str = ""
    last_name_field: str = ""

    def __init__(self, *, server: Any, organization: Any) -> None:
        self.server = server
        self.organization = organization
        self.sleep = SleepRecorder()
        self._connection: Any = None

    def provider(self, **options: Any) -> CrmProvider:
        """The provider under test, bound to the harness's connection (backoff waits recorded, never slept)."""
        return provider_for(self.connection(), sleep=self.sleep, **options)

    def connection(self) -> Any:
        if self._connection is None:
            self._connection = self.make_connection()
        return self._connection

    # --- the connection ---------------------------------------------------------------------------------------
    @abc.abstractmethod
    def make_connection(self) -> Any:
        """A connected connection (credentials valid) to the emulator's default org."""

    @abc.abstractmethod
    def expected_identity(self) -> Mapping[str, str]:
        """What `identity()` must answer for the default org: at least org_id, and user_id."""

    @abc.abstractmethod
    def unconnected(self) -> tuple[Any, str]:
        """A connection of a new emulator org that has not consented yet, and that org's id."""

    @abc.abstractmethod
    def consent(self, authorize_url: str) -> dict[str, str]:
        """What the person does on the CRM's consent page: approve; the callback's query parameters."""

    @abc.abstractmethod
    def revoke_access_tokens(self) -> None:
        """Every live access token stops working; the grant (refresh token) still works."""

    @abc.abstractmethod
    def revoke_grant(self) -> None:
        """The grant itself is revoked (as a user removing the app would): only a new consent helps."""

    # --- data -------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def seed_leads(self, count: int) -> list[str]:
        """`count` realistic leads; their ids."""

    @abc.abstractmethod
    def stamp_together(self, ids: list[str], *, values: Mapping[str, Any]) -> datetime:
        """Edit every record at one and the same modified time (a bulk update); that time."""

    @abc.abstractmethod
    def create_lead(self, *, last_name: str, phone: str) -> str:
        """A lead as a person would type it (the phone in the person's format); its id."""

    @abc.abstractmethod
    def edit(self, record_id: str, values: Mapping[str, Any]) -> None:
        """A person edits a lead (its modified time moves)."""

    @abc.abstractmethod
    def delete(self, record_id: str) -> None:
        """A person deletes a lead."""

    @abc.abstractmethod
    def read(self, record_id: str) -> Mapping[str, Any]:
        """The lead as the emulator holds it (vendor field names)."""

    @abc.abstractmethod
    def owner_id(self) -> str:
        """A CRM user id tasks can be assigned to."""

    @abc.abstractmethod
    def tasks_on(self, record_id: str) -> list[dict[str, str]]:
        """Tasks on a lead: each {"subject", "owner_id"}."""

    @abc.abstractmethod
    def activities_on(self, record_id: str) -> list[dict[str, str]]:
        """Activities logged on a lead's timeline (log_activities), oldest first: each {"subject", "status" (the
        CRM's word, e.g. "Completed"), "description"}."""

    # --- faults -----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def fail_reads(self, *, status: int, times: int) -> None:
        """The next `times` change reads answer `status` (429, 503); 0 means every one from now on."""

    @abc.abstractmethod
    def edit_while_paging(self, *, after_pages: int, count: int) -> None:
        """After `after_pages` change reads, `count` leads are edited just before the next one is answered."""

    # --- change feed (CHANGE_FEED) ----------------------------------------------------------------------------
    def new_subscription(self, *, objects: tuple[str, ...]) -> Subscription:
        raise NotImplementedError

    def live_subscriptions(self) -> list[str]:
        """The ids of the subscriptions the emulator holds live."""
        raise NotImplementedError

    def notification_body(self, subscription: Subscription, *, ids: list[str], secret: str | None = None) -> bytes:
        """A notification of updated leads as the CRM would send it (`secret` to forge one)."""
        raise NotImplementedError

    # --- bulk export (BULK_EXPORT) ----------------------------------------------------------------------------
    def hold_exports(self) -> None:
        """Export jobs started from now on stay queued or running until `finish_export` or `fail_export`."""
        raise NotImplementedError

    def finish_export(self, job_id: str) -> None:
        """The CRM completes an export job now."""
        raise NotImplementedError

    def fail_export(self, job_id: str) -> None:
        """The CRM fails an export job (as it would on an internal error)."""
        raise NotImplementedError

    def expire_export(self, job_id: str) -> None:
        """The CRM forgets an export job and its result, as it does once it has kept them long enough."""
        raise NotImplementedError

    # --- two-way sync (tests/links, and the contract's many-record writes) -------------------------------------
    # The unique field of leads and contacts that holds Leadline's id (the key of upserts by external id or alternate
    # key), as the emulator's org has it set up the way our install guide asks; "" when the CRM has none.
    external_id_field: str = ""

    def create_record(self, object: str, values: Mapping[str, Any]) -> str:
        """A person creates a record of a canonical object (lead, contact, account, deal) with vendor field names in
        the CRM's own UI; its id."""
        raise NotImplementedError

    def edit_record(self, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        """A person edits a record in the CRM's UI (its modified time moves; the change is no app's)."""
        raise NotImplementedError

    def delete_record(self, object: str, record_id: str) -> None:
        """A person deletes a record (to the recycle bin where the CRM has one)."""
        raise NotImplementedError

    def read_record(self, object: str, record_id: str) -> Mapping[str, Any] | None:
        """The record as the emulator holds it (vendor field names); None when it is deleted or never was."""
        raise NotImplementedError

    def record_ids(self, object: str) -> list[str]:
        """The ids of every live record of a canonical object."""
        raise NotImplementedError

    def records_written(self) -> int:
        """How many records the CRM's API has written since the world began (creates, updates, upserts, deletes;
        a batch call of ten records counts ten; a refused record counts none), as the emulator tallies them."""
        raise NotImplementedError

    def refuse_writes(self, object: str, *, field: str, message: str) -> None:
        """A validation rule of the CRM: from now on an API write of `object` that sets `field` (to anything,
        even on create) is refused with `message`, as the CRM words a validation-rule failure."""
        raise NotImplementedError

    def allow_writes(self, object: str) -> None:
        """The validation rules `refuse_writes` set on `object` are removed (a person fixed the rule)."""
        raise NotImplementedError

    def fail_writes(self, *, status: int, times: int) -> None:
        """The next `times` API calls that write records answer `status` (429 with the CRM's throttling body, 503)."""
        raise NotImplementedError
