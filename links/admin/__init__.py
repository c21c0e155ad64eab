"""The managers' admin of two-way sync: links (with their objects and field mappings, the last preview and what
is wrong with the configuration; preview, start, pause and resume), the failed-writes queue (retry, skip) and the
history of done writes, conflicts, match reviews (link, create, ignore) and the id map, one module per page group
(importing this package registers them). Scoped like every admin page (core.admin): a manager sees their
organization only, operators every one, staff nothing.

No CRM call inside a transaction: the pages whose actions or forms ask a CRM (the link list's actions, the link's
change form, which warms the field metadata the problems are checked against) run without the request's
transaction; the engine's functions open their own.
"""

from links.admin import links, objects, pairs, reviews, writes  # noqa: F401
