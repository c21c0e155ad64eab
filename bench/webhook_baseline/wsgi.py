"""The benchmark's WSGI application: the product's own (`config.wsgi.application`, untouched) for every path but
the baseline's, which a Django handler with no middleware at all serves.

That is the floor of a Django webhook: the same gunicorn worker, request parsing, URL resolution, database
connection and one INSERT, and nothing else. The product's lean webhook path is measured against it.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_web")

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

from config.wsgi import application as product

BASELINE_PREFIX = "/bench/baseline/"


class BareHandler(WSGIHandler):
    """Django's WSGI handler with an empty middleware list, whatever settings.MIDDLEWARE says."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        self._middleware_chain = convert_exception_to_response(self._get_response)


baseline = BareHandler()


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(BASELINE_PREFIX):
        return baseline(environ, start_response)
    return product(environ, start_response)
