"""Argument types for management commands: a bad number is a usage error naming it, never a traceback."""

import argparse
import math
from decimal import Decimal, InvalidOperation

from core.fields import AMOUNT_MAX


def positive_decimal(text: str) -> Decimal:
    """A finite amount above zero (NaN, Infinity, text and values beyond NUMERIC(36, 18) are refused)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or not 0 < value < AMOUNT_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above zero")
    return value


def positive_float(text: str) -> float:
    """positive_decimal, as a float (for what computes in floats, like routing)."""
    value = float(positive_decimal(text))
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above zero")
    return value
