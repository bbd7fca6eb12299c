"""Re-encrypt every stored credential with the newest CREDENTIALS_KEY."""

from django.core.management.base import BaseCommand, CommandError

from core.services import credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the newest key. Put the new key first in CREDENTIALS_KEY "
        "(comma-separated, newest first), keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options) -> None:
        try:
            report = credentials_rotate()
        except Exception as exc:  # an undecryptable row: name the cause, change nothing
            raise CommandError(f"credentials not rotated (nothing changed): {exc}") from exc
        for model, changed in report.items():
            self.stdout.write(f"{model}: {changed} row(s) re-encrypted with the newest key")
