"""The CRM-neutral steps of connecting an account by OAuth, shared by the providers' oauth.py: claiming a connect's
state, showing a failure on the connection, and the rule that one CRM org is held by one connection (a second
organization's claim, or this account moving to another org, is refused before anything is stored).

Each provider keeps its vendor's exchanges (consent URL, code exchange, who connected, revocation) and its own
ids; it describes itself once with a `ConnectFlow` (its connection model names the vendor and the org id field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm import connection_state
from crm.connection_state import CrmConnection
from crm.errors import CrmAuthError, CrmError
from crm.oauth_state import Flow, state_claim
from crm.records import Identity
from studios.models import ProviderAccount


@dataclass(frozen=True)
class ConnectFlow:
    """One provider's connect: its kind (the state's and errors' provider), its connection model, and the
    messages a refused claim shows ({name} is the org; {previous} and {new} the two orgs' ids)."""

    kind: str
    model: type[CrmConnection]
    claimed_message: str
    other_org_message: str
    logger: Any  # the provider's own (structlog), so refusals are logged under its module
    org_word: str = "org"  # in log events: <kind>.connection.<org_word>_claim_refused, .other_<org_word>_refused

    def state_claim(self, *, state: str, session: Any, account: ProviderAccount | None = None) -> dict[str, Any]:
        """What a connect's `state` carries (its `account` id, as an int, and what the start added), if it is
        genuine, fresh and from this session (single use), and, given `account`, was started for it.
        CrmAuthError "bad_state" otherwise."""
        issued = state_claim(state=state, session=session)
        if issued.kind != self.kind or issued.flow != Flow.CONNECT or "account" not in issued.data:
            raise CrmAuthError(
                f"This {self.model.crm_name} sign-in link is not a connection's; start again.", code="bad_state"
            )
        data = {**issued.data, "account": int(issued.data["account"])}
        if account is not None and data["account"] != account.pk:
            raise CrmAuthError(f"This {self.model.crm_name} sign-in was started for another account.", code="bad_state")
        return data

    def failed(self, account: ProviderAccount, exc: CrmError) -> CrmError:
        """The error to raise, named as the provider's, once the connection shows it (the admin says what failed)."""
        exc.provider = exc.provider or self.kind
        connection_state.connection_error_record(self.model, account=account, message=exc.message)
        return exc

    def claim_refusal(
        self, *, account: ProviderAccount, identity: Identity, connected_by: str, revoke: Callable[[], Any]
    ) -> CrmError | None:
        """Before storing anything: the error to raise if another connection holds the identity's org, or this
        account was connected to another org (its mirror, members' user ids and lead automation belong to that
        one; a new org is a new account); `revoke` has then dropped the new token. None when the claim is fine."""
        if connection_state.org_claimed_elsewhere(self.model, account=account, org_id=identity.org_id):
            return self.claim_refused(account=account, identity=identity, connected_by=connected_by, revoke=revoke)
        previous = connection_state.previous_org_id(self.model, account=account)
        if not previous or previous == identity.org_id:
            return None
        revoke()
        field = self.model.org_id_field
        self.logger.warning(
            f"{self.kind}.connection.other_{self.org_word}_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            **{f"previous_{field}": previous, field: identity.org_id},
        )
        message = self.other_org_message.format(previous=previous, new=identity.org_id)
        return self.failed(account, CrmAuthError(message, code="other_org"))

    def claim_lost(
        self, *, account: ProviderAccount, identity: Identity, connected_by: str, revoke: Callable[[], Any]
    ) -> CrmError | None:
        """After an IntegrityError storing the connection: the refusal if another connect of the org won the race
        (the constraint lets the first one win), None if the error was something else (the caller re-raises)."""
        if not connection_state.org_claimed_elsewhere(self.model, account=account, org_id=identity.org_id):
            return None
        return self.claim_refused(account=account, identity=identity, connected_by=connected_by, revoke=revoke)

    def claim_refused(
        self, *, account: ProviderAccount, identity: Identity, connected_by: str, revoke: Callable[[], Any]
    ) -> CrmError:
        """Another tenant holds this org: keep nothing (revoke the new token), tell the manager, warn operators."""
        revoke()
        self.logger.warning(
            f"{self.kind}.connection.{self.org_word}_claim_refused",
            account_id=account.pk,
            organization_id=account.organization_id,
            connected_by=connected_by,
            **{self.model.org_id_field: identity.org_id},
        )
        name = f"{identity.org_name} ({identity.org_id})" if identity.org_name else identity.org_id
        return self.failed(account, CrmAuthError(self.claimed_message.format(name=name), code="org_claimed"))
