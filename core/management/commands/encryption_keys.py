"""manage.py encryption_keys generate | rotate

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), deploy, run `rotate`,
then remove the old keys. `rotate` re-encrypts every stored secret under the first key.
"""

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from core.secrets import DecryptionError, EncryptedSecretField, generate_key, rotate_token

BATCH_SIZE = 500


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedSecretField)]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Generate a field-encryption key, or re-encrypt every stored secret under the newest key."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("generate", help="Print a new Fernet key for FIELD_ENCRYPTION_KEYS.")
        sub.add_parser("rotate", help="Re-encrypt all stored secrets with the first key of FIELD_ENCRYPTION_KEYS.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "generate":
            self.stdout.write(generate_key())
            return
        total = 0
        for model, names in encrypted_fields():
            count = self.rotate_model(model, names)
            total += count
            self.stdout.write(f"{model._meta.label}: {count} secret(s) re-encrypted ({', '.join(names)})")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} secret(s) now under the newest key."))

    def rotate_model(self, model: type[models.Model], names: list[str]) -> int:
        """Read the stored tokens as text (no decryption into memory), rotate, write them back as text."""
        manager = model._base_manager  # every tenant's rows: this is an operator command over the whole table
        raw = {f"raw_{name}": models.functions.Cast(name, output_field=models.TextField()) for name in names}
        count = 0
        with transaction.atomic():
            rows = manager.annotate(**raw).values("pk", *raw.keys())
            for row in rows.iterator(chunk_size=BATCH_SIZE):
                updates = {}
                for name in names:
                    token = row[f"raw_{name}"]
                    if token:
                        try:
                            updates[name] = models.Value(rotate_token(token), output_field=models.TextField())
                        except DecryptionError as exc:
                            raise CommandError(
                                f"{model._meta.label} #{row['pk']}.{name} cannot be decrypted with any configured "
                                "key; nothing was changed. Add the key it was written with and run again."
                            ) from exc
                if updates:
                    manager.filter(pk=row["pk"]).update(**updates)
                    count += len(updates)
        return count
