"""Create (or reset) the demo operator account with a freshly generated password."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create or reset a superuser for operators; prints its new password and API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="operator")

    def handle(self, *args, username: str, **options) -> None:
        password = secrets.token_urlsafe(18)
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        verb = "created" if created else "password reset"
        self.stdout.write(f"operator account {verb}: username={username} password={password}")
        self.stdout.write(f"API token: {token.key}  (header 'Authorization: Token {token.key}')")
