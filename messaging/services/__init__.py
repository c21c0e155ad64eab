"""Writes of the messaging app, by subdomain: sending, receiving, statuses, opt-outs, threads, inbound events."""
