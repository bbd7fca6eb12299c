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


def rest_client(account: Exchange, *, streaming: bool = False, private: bool = False):
    """ccxt's async client of the account's exchange (`streaming`: ccxt.pro's, which also watches), its REST URLs
    on the account's `rest_url` and its websocket URLs on its `ws_url` where it sets them (else the venue's own).

    `private`: with the account's credentials (its user-data stream), loading spot markets only (no private
    currencies or margin calls); public otherwise.
    """
    if streaming:
        import ccxt.pro as module
    else:
        import ccxt.async_support as module
    from exchanges.ccxt_venue import SPOT_OPTIONS

    config = {"enableRateLimit": True, "options": {"defaultType": "spot"}}
    if private:
        config |= {"apiKey": account.api_key, "secret": account.api_secret,
                   "password": account.api_password or None, "options": dict(SPOT_OPTIONS)}  # fmt: skip
    client = getattr(module, account.ccxt_id)(config)
    ws = client.urls["api"].get("ws")
    if account.rest_url:
        client.urls["api"] = rebased(client.urls["api"], account.rest_url)
    if ws is not None:
        client.urls["api"]["ws"] = rebased(ws, account.ws_url) if account.ws_url else ws
    return client
