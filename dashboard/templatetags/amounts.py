"""Template filters for amounts read back from the API cache (Decimals come back as strings)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def amount(value, places: int = 8):
    """An amount without trailing zeros, rounded to `places` decimals; a dash for none."""
    if value is None or value == "":
        return "\N{EN DASH}"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return value
    text = f"{round(number, int(places)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def percent(value, places: int = 2):
    """A fraction as a percentage (0.0123 -> 1.23%); a dash for none."""
    if value is None or value == "":
        return "\N{EN DASH}"
    try:
        return f"{float(value) * 100:.{int(places)}f}%"
    except (TypeError, ValueError):
        return value
