"""Create (or reset) the demo operator account with a freshly generated password and API token."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "Create or reset a superuser for operators; prints its new password and a new API token "
        "(stored hashed, expiring after REST_KNOX TOKEN_TTL). Resetting revokes the account's earlier tokens."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="operator")

    def handle(self, *args, username: str, **options) -> None:
        password = secrets.token_urlsafe(18)
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": True}
            )
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
            AuthToken.objects.filter(user=user).delete()
            token_row, token = AuthToken.objects.create(user=user)
        verb = "created" if created else "password reset"
        self.stdout.write(f"operator account {verb}: username={username} password={password}")
        expiry = token_row.expiry.isoformat(timespec="seconds") if token_row.expiry else "never"
        self.stdout.write(f"API token (expires {expiry}): {token}  (header 'Authorization: Token {token}')")
