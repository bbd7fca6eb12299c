"""Field helpers: one precision for money, encrypted text for credentials."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# NUMERIC(36, 18) holds any crypto amount or price (18 decimals, like ERC-20).
AMOUNT_DIGITS = 36
AMOUNT_PLACES = 18


def amount_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


def rate_field(**kwargs) -> models.DecimalField:
    """A fee rate or ratio: 0.001 is 0.1 %."""
    return models.DecimalField(max_digits=12, decimal_places=8, **kwargs)


@cache
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _cipher() -> Fernet:
    return _fernet(settings.CREDENTIALS_KEY or settings.SECRET_KEY)


class EncryptedTextField(models.TextField):
    """Text stored encrypted (Fernet); decrypted only when the code reads it.

    The key is CREDENTIALS_KEY, or SECRET_KEY when that is unset.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return _cipher().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        try:
            return _cipher().decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "Stored credentials cannot be decrypted: CREDENTIALS_KEY (or SECRET_KEY) changed."
            ) from exc
