"""The managers' admin: studios, numbers, members and provider accounts of their own organization (one module
each; importing this package registers them)."""

from studios.admin import accounts, members, numbers, organizations  # noqa: F401
