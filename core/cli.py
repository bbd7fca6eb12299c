"""For management commands: argument types (a bad number is a usage error naming it, never a traceback) and the
reading of a YAML file they are given (each way it can be wrong said in one line)."""

import argparse
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from django.core.management.base import CommandError

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


def read_yaml(path: str, *, what: str):
    """The document in the YAML file at `path` (`what` names such a file: "a strategy file"); CommandError else."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CommandError(f"{path}: cannot be read: no such file") from exc
    except IsADirectoryError as exc:
        raise CommandError(f"{path}: a directory, not {what}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise CommandError(f"{path}: not valid YAML: {exc}") from exc
