"""STUB: built by the Twilio/Voice helper."""

ROUTES: list = []
