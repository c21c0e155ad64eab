"""The page for people: a phone that texts studio numbers, and the sandbox CRM's leads and tasks."""

from werkzeug.wrappers import Request, Response

from sandbox.state import SandboxState


def index(sandbox: SandboxState, request: Request) -> Response:
    return Response("<!doctype html><title>Leadline sandbox</title><h1>Leadline sandbox</h1>", mimetype="text/html")


ROUTES = [("/", ["GET"], index)]
