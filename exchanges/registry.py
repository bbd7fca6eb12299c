"""From an Exchange row to the Venue that serves it."""

from .models import Exchange, ExchangeKind
from .venue import Venue


def get_venue(exchange: Exchange, **kwargs) -> Venue:
    if exchange.kind == ExchangeKind.PAPER:
        from .paper import PaperVenue

        return PaperVenue(exchange, **kwargs)
    if exchange.kind == ExchangeKind.CCXT:
        from .ccxt_venue import CcxtVenue

        return CcxtVenue(exchange, **kwargs)
    raise ValueError(f"Unknown exchange kind {exchange.kind!r}")
