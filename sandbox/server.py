"""Serving the sandbox: in a background thread on a free port (tests), or in the foreground (`make run`)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.app import SandboxApp, create_app


class QuietRequestHandler(WSGIRequestHandler):
    """One line per request would drown test and benchmark output; errors are still logged (werkzeug's log_error)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SandboxServer:
    """A threaded HTTP server in a daemon thread. `url` is where the product's clients point."""

    def __init__(
        self, app: SandboxApp | None = None, *, host: str = "127.0.0.1", port: int = 0, **state_options: Any
    ) -> None:
        self.app = app or create_app(**state_options)
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=QuietRequestHandler
        )
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self):
        return self.app.state

    def start(self) -> SandboxServer:
        # A short poll interval makes shutdown (once per test) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.app.state.sender.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve(*, host: str = "127.0.0.1", port: int = 8100, **state_options: Any) -> None:
    """Serve in the foreground until interrupted."""
    server = SandboxServer(host=host, port=port, **state_options)
    vendors = "Zoho CRM, Salesforce, HubSpot, Zoho Voice, Twilio"
    print(f"Leadline sandbox ({vendors}) on {server.url}  people page: {server.url}/", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
