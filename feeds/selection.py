"""What a feed streams for an account (tickers: every market of a triangle and every open position's; books: the
wanted ones, the open cycles' legs, the open positions'), and its REST client pointed where the account says."""

from core.http import rebased
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import Exchange, Market


def feed_tickers(account: Exchange) -> list[str]:
    from cycles.detection import triangle_table

    markets = list(Market.objects.filter(exchange=account, active=True))
    table = triangle_table(m.info() for m in markets)
    in_triangles = {table.markets[i].symbol for i in set(table.leg_market.ravel().tolist())}
    return sorted(in_triangles | _open_position_symbols(account))


def feed_books(account: Exchange, snapshot: MarketDataSnapshot) -> set[str]:
    from cycles.models import OPEN_STATES, CycleLeg

    legs = CycleLeg.objects.filter(cycle__strategy__exchange=account, cycle__state__in=OPEN_STATES)
    return (
        snapshot.wanted_books() | set(legs.values_list("market__symbol", flat=True)) | _open_position_symbols(account)
    )


def _open_position_symbols(account: Exchange) -> set[str]:
    from positions.models import Position, PositionPhase

    open_positions = Position.objects.filter(exchange=account).exclude(phase=PositionPhase.CLOSED)
    return set(open_positions.values_list("market__symbol", flat=True))


def rest_client(account: Exchange, *, streaming: bool = False):
    """ccxt's async client of the account's exchange (public calls; `streaming`: ccxt.pro's, which also
    watches), its API URLs on `rest_url` if the account sets one."""
    if streaming:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module

    client = getattr(module, account.ccxt_id)({"enableRateLimit": True, "options": {"defaultType": "spot"}})
    if account.rest_url:
        client.urls["api"] = rebased(client.urls["api"], account.rest_url)
    return client
