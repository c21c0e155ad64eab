"""Twilio Programmable Messaging emulator: state.py, models.py, e164.py, api.py, webhooks.py, signature.py, optout.py,
segments.py."""
