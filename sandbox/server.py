"""Serving the sandbox: in a background thread on a free port (tests), or in the foreground (`make run`).

With `tls=True` the same application is also served over HTTPS (a self-signed certificate from sandbox/tls.py,
`ca_path` for clients to verify with) with every path under `/entra`: that listener stands in for Entra ID's
login host (`https://127.0.0.1:<port>/<tenant>/...` as `https://login.microsoftonline.com/<tenant>/...`), which
msal accepts only over https."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.app import SandboxApp, create_app


class QuietRequestHandler(WSGIRequestHandler):
    """One line per request would drown test and benchmark output; errors are still logged (werkzeug's log_error)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


_TLS_DIR: list[str] = []


def _process_tls_dir() -> str:
    """One temporary certificate directory per process (tests start many servers; one RSA key is enough)."""
    if not _TLS_DIR:
        _TLS_DIR.append(tempfile.mkdtemp(prefix="sandbox-tls-"))
    return _TLS_DIR[0]


class EntraPrefix:
    """The HTTPS listener's application: every path is served as `/entra<path>`."""

    def __init__(self, app: Callable[..., Any], prefix: str = "/entra") -> None:
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        environ = {**environ, "PATH_INFO": self.prefix + (environ.get("PATH_INFO") or "/")}
        return self.app(environ, start_response)


class SandboxServer:
    """A threaded HTTP server in a daemon thread. `url` is where the product's clients point; with `tls=True`,
    `tls_url` is the HTTPS listener (Entra's stand-in) and `ca_path` the certificate to trust."""

    def __init__(
        self,
        app: SandboxApp | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        tls_port: int = 0,
        tls_dir: str | None = None,
        **state_options: Any,
    ) -> None:
        self.app = app or create_app(**state_options)
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=QuietRequestHandler
        )
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None
        self._tls_server: BaseWSGIServer | None = None
        self._tls_thread: threading.Thread | None = None
        self.ca_path = ""
        if tls:
            from sandbox.tls import certificate

            cert_path, key_path = certificate(tls_dir or _process_tls_dir())
            self.ca_path = cert_path
            self._tls_server = make_server(
                host,
                tls_port,
                EntraPrefix(self.app),
                threaded=True,
                request_handler=QuietRequestHandler,
                ssl_context=(cert_path, key_path),
            )
        # Where the emulators say they are (Dataverse environment URLs, Entra's endpoints); kept on the state
        # object so a control-API reset keeps them.
        self.app.state.public_urls = {"base": self.url, "tls": self.tls_url}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tls_port(self) -> int | None:
        return self._tls_server.server_port if self._tls_server is not None else None

    @property
    def tls_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}" if self._tls_server is not None else ""

    @property
    def state(self):
        return self.app.state

    def start(self) -> SandboxServer:
        # A short poll interval makes shutdown (once per test) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        if self._tls_server is not None:
            self._tls_thread = threading.Thread(
                target=self._tls_server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="sandbox-https",
                daemon=True,
            )
            self._tls_thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._tls_server is not None:
            self._tls_server.shutdown()
            self._tls_server.server_close()
        self.app.state.sender.stop()
        for thread in (self._thread, self._tls_thread):
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8100,
    tls_port: int | None = None,
    tls_dir: str | None = None,
    **state_options: Any,
) -> None:
    """Serve in the foreground until interrupted (and, given `tls_port`, Entra's stand-in over HTTPS in a thread
    with the certificate kept in `tls_dir`)."""
    tls = tls_port is not None
    server = SandboxServer(host=host, port=port, tls=tls, tls_port=tls_port or 0, tls_dir=tls_dir, **state_options)
    vendors = "Zoho CRM, Salesforce, HubSpot, Dynamics 365, Zoho Voice, Twilio"
    print(f"Leadline sandbox ({vendors}) on {server.url}  people page: {server.url}/", flush=True)
    if tls:
        print(f"Entra ID sign-in and tokens on {server.tls_url} (certificate {server.ca_path})", flush=True)
        server._tls_thread = threading.Thread(
            target=server._tls_server.serve_forever, name="sandbox-https", daemon=True
        )
        server._tls_thread.start()
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()
        if server._tls_server is not None:
            server._tls_server.shutdown()
            server._tls_server.server_close()
