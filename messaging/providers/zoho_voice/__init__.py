"""Zoho Voice, an SMS provider: sending (`provider.py`), and the SMS-log poll that brings in inbound texts and status
changes (`poll.py`, run by `tasks.py`, its place kept in `models.py` ZohoVoicePollCursor), which parses the logs
(`logs.py`) and matches them to stored messages set-based (`dedup.py`). Its OAuth token comes from Zoho's token
broker (crm/providers/zoho/tokens.py)."""

from messaging.providers.registry import SmsProviderInfo

PROVIDER_NAME = "zoho_voice"  # stored in Message.provider and PhoneNumber.provider

SMS_PROVIDER = SmsProviderInfo(
    name=PROVIDER_NAME,
    label="Zoho Voice",
    provider="messaging.providers.zoho_voice.provider.ZohoVoiceProvider",
    polls_logs=True,  # Zoho Voice sends no webhooks: its texts are matched to the SMS logs a poll reads
    poll="messaging.providers.zoho_voice.tasks.zoho_voice_poll_task",
)
