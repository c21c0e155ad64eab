"""Placeholder: the records-changed receiver is written by the engine (see docs/links.md)."""
