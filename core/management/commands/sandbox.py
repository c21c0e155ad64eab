"""manage.py sandbox: serve the local emulators of the vendors the product calls, CRMs and SMS providers
(development and benchmarks; docs/architecture.md lists them under sandbox/).

It refuses to run with DEBUG off: the sandbox accepts any demo credentials and must never face the internet.
It also serves HTTPS on SANDBOX_TLS_URL's port (a self-signed certificate kept in SANDBOX_TLS_DIR): the login host
of the emulated identity provider, which OAuth libraries accept only over https (--no-tls turns it off).
"""

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the local sandbox (emulated CRMs and SMS providers, with their OAuth servers)."

    def add_arguments(self, parser: CommandParser) -> None:
        default = urlparse(settings.SANDBOX_URL)
        parser.add_argument("--host", default=default.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=default.port or 8100)
        parser.add_argument("--seed", type=int, default=42, help="Random seed of the generated CRM data.")
        parser.add_argument("--leads", type=int, default=200, help="How many leads the demo org starts with.")
        parser.add_argument("--world", choices=["demo", "empty"], default="demo")
        tls = urlparse(settings.SANDBOX_TLS_URL)
        parser.add_argument("--tls-port", type=int, default=tls.port or 8143, help="The HTTPS listener's port.")
        parser.add_argument("--no-tls", action="store_true", help="Serve plain HTTP only.")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Serve even with DEBUG off (benchmarks on a production-like configuration).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_production"]:
            raise CommandError("The sandbox runs only with DEBUG on (or --allow-production): it is a test double.")
        if options["host"] not in ("127.0.0.1", "localhost", "::1"):
            raise CommandError("The sandbox listens on loopback only.")
        from sandbox.server import serve

        serve(
            host=options["host"],
            port=options["port"],
            seed=options["seed"],
            leads=options["leads"],
            world=options["world"],
            tls_port=None if options["no_tls"] else options["tls_port"],
            tls_dir=str(settings.SANDBOX_TLS_DIR),
            product_base_url=settings.PUBLIC_BASE_URL,
            auto_progress_messages=True,
        )
