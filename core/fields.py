"""Field helpers: one precision for money, encrypted text for credentials."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# NUMERIC(36, 18) holds any crypto amount or price (18 decimals, like ERC-20).
AMOUNT_DIGITS = 36
AMOUNT_PLACES = 18
AMOUNT_MAX = 10 ** (AMOUNT_DIGITS - AMOUNT_PLACES)  # exclusive: the first value NUMERIC(36, 18) cannot hold

# Development only (DEBUG on and no CREDENTIALS_KEY): a fixed key, so a local database stays readable
# whatever SECRET_KEY is. Production refuses to start without CREDENTIALS_KEY (settings.py).
DEV_CREDENTIALS_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"tradingsite development credentials").digest())


def amount_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


def rate_field(**kwargs) -> models.DecimalField:
    """A fee rate or ratio: 0.001 is 0.1 %."""
    return models.DecimalField(max_digits=12, decimal_places=8, **kwargs)


def _legacy_key(secret_key: str) -> bytes:
    """The key rows were encrypted with before CREDENTIALS_KEY existed (derived from SECRET_KEY): read only."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest())


@cache
def _multifernet(keys: tuple[str, ...], legacy_secret: str) -> MultiFernet:
    fernets = [Fernet(key) for key in keys]
    if legacy_secret:
        fernets.append(Fernet(_legacy_key(legacy_secret)))
    return MultiFernet(fernets)


def credentials_cipher() -> MultiFernet:
    """Encrypts with the newest key (the first of CREDENTIALS_KEYS); decrypts with any of them."""
    keys = tuple(settings.CREDENTIALS_KEYS) or (DEV_CREDENTIALS_KEY.decode(),)
    return _multifernet(keys, settings.CREDENTIALS_LEGACY_SECRET_KEY)


class EncryptedTextField(models.TextField):
    """Text stored encrypted (Fernet, keys from CREDENTIALS_KEY); decrypted only when the code reads it."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return credentials_cipher().encrypt(value.encode()).decode()

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        try:
            return credentials_cipher().decrypt(value.encode()).decode()
        except InvalidToken:
            raise ImproperlyConfigured(
                "Stored credentials cannot be decrypted with any CREDENTIALS_KEY: "
                "give the key they were written with (keys are listed newest first)."
            ) from None


def reencrypt(token: str) -> str:
    """A stored value re-encrypted with the newest key (rotate_credentials)."""
    return credentials_cipher().rotate(token.encode()).decode() if token else ""
