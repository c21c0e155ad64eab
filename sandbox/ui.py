"""The page for people: a phone that texts studio numbers and receives their replies, the sandbox CRM's
leads and tasks, and what the sandbox delivered to the product. Everything it shows comes from the control
API, so the page is also a live example of it."""

from importlib import resources

from werkzeug.wrappers import Request, Response

from sandbox.state import SandboxState


def index(sandbox: SandboxState, request: Request) -> Response:
    page = resources.files("sandbox.assets").joinpath("index.html").read_text(encoding="utf-8")
    return Response(
        page,
        mimetype="text/html",
        headers={
            # The page talks only to this sandbox; no inline script from elsewhere can run in it.
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
            "'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
            "Cache-Control": "no-store",
        },
    )


def favicon(sandbox: SandboxState, request: Request) -> Response:
    return Response(status=204)


ROUTES = [("/", ["GET"], index), ("/favicon.ico", ["GET"], favicon)]
