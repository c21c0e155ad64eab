"""STUB: built by a helper."""

ROUTES: list = []
