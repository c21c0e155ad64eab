"""Zoho Voice, an SMS provider: sending (`provider.py`), and the SMS-log poll that brings in inbound texts and status
changes (`poll.py`), which parses the logs (`logs.py`) and matches them to stored messages set-based (`dedup.py`).
Its OAuth token comes from Zoho's token broker (crm/providers/zoho/tokens.py)."""
