"""Twilio Programmable Messaging emulator: state.py, api.py, signature.py, optout.py, segments.py."""
