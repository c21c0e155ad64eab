"""The local sandbox: faithful emulators of Zoho Accounts, Zoho CRM v8, Zoho Voice and Twilio over real HTTP.

A standalone WSGI application (werkzeug), deliberately not a Django app: it runs inside the test process
beside the product's own Django (the `sandbox` pytest fixture) and as its own server for `make run`
(`manage.py sandbox`), keeps its state in memory, and is in no URLconf or INSTALLED_APPS, so a production
deployment cannot serve it. Vendor paths do not overlap (`/oauth/v2`, `/crm/v8`, `/crm/bulk/v8`,
`/rest/json/v1`, `/2010-04-01`), so one host stands in for every vendor; `/_sandbox/` is the control API.
"""

from sandbox.app import SandboxApp, create_app
from sandbox.server import SandboxServer
from sandbox.state import SandboxState

__all__ = ["SandboxApp", "SandboxServer", "SandboxState", "create_app"]
