"""Writes of lead automation, by subdomain: new-lead intake, keyword replies, the log, CRM write-backs."""
