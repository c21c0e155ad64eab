"""The managers' admin of messaging, by page: conversations (and the unassigned queue), messages, the opt-out
ledger, and records (raw inbound events, CRM write-backs, messaging settings). Shared pieces in common.py.

Everything is scoped by core.admin (a manager sees their organization only). Messages, events and write-backs
are records: nobody edits or deletes them here. The opt-out ledger changes only through `opt_out_set`, with a
reason, and is never deleted (a compliance record).
"""

from messaging.admin import conversations, messages, opt_outs, records  # noqa: F401 (registers the pages)
