"""The paper venue: a simulated exchange whose ledger lives in PostgreSQL.

Every worker sees one exchange. Market and IOC orders walk the book; limit
orders take what crosses and rest, filling later as makers when the market
reaches them. Fees are charged in the asset received, as Binance does. Faults
(latency, 429, 418, 5xx, timeouts after acceptance, partial fills) are
injected with the probabilities in the account's VenueFaults row.
"""

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from core.clock import from_ms, to_ms

from .depth_profile import load_profile
from .errors import (
    Banned,
    DuplicateClientOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    VenueUnavailable,
)
from .models import Exchange, Market, PaperBalance, PaperOrder, PaperOrderStatus, PaperTrade, VenueFaults
from .paper_data import MarketDataSource, SnapshotSource
from .rules import check_order, floor_to_step, fmt, ledger, walk_book
from .selectors import market_data_name
from .types import BalanceEntry, MarketInfo, OrderBook, Resolution, Ticker, VenueOrder, VenueTrade
from .venue import ORDER_TYPES, Venue

ZERO = Decimal(0)
RESTING = (PaperOrderStatus.OPEN, PaperOrderStatus.PARTIALLY_FILLED)


class PaperVenue(Venue):
    def __init__(
        self,
        exchange: Exchange,
        *,
        market_data: MarketDataSource | None = None,
        rng: random.Random | None = None,
        book_depth: int = 50,
    ) -> None:
        self.exchange = exchange
        self.name = exchange.name
        self.rng = rng or random.Random()
        self.book_depth = book_depth
        self._markets: dict[str, MarketInfo] | None = None
        self._market_data = market_data
        self._faults: tuple[float, VenueFaults | None] = (0.0, None)

    # --- plumbing ------------------------------------------------------------
    @property
    def markets(self) -> dict[str, MarketInfo]:
        if self._markets is None:
            self._markets = {m.symbol: m.info() for m in Market.objects.filter(exchange=self.exchange, active=True)}
        return self._markets

    @property
    def market_data(self) -> MarketDataSource:
        if self._market_data is None:
            self._market_data = SnapshotSource(
                market_data_name(self.exchange),  # two paper accounts may share one simulated market
                price_steps={s: m.price_step for s, m in self.markets.items()},
                profile=load_profile(str(settings.PAPER_DEPTH_PROFILE)),
            )
        return self._market_data

    def faults(self) -> VenueFaults | None:
        fetched_at, faults = self._faults
        if time.monotonic() - fetched_at > settings.PAPER_FAULTS_CACHE_S:
            faults = VenueFaults.objects.filter(exchange=self.exchange, enabled=True).first()
            self._faults = (time.monotonic(), faults)
        return faults

    def _inject(self) -> VenueFaults | None:
        """Faults that strike before the venue does anything."""
        faults = self.faults()
        if faults is None:
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        roll = self.rng.random()
        if roll < faults.ban_p:
            raise Banned(
                f"{self.name}: HTTP 418, IP banned for {faults.ban_s:.0f}s",
                until=datetime.now(UTC) + timedelta(seconds=faults.ban_s),
            )
        roll -= faults.ban_p
        if roll < faults.rate_limit_p:
            raise RateLimited(f"{self.name}: HTTP 429, too many requests", retry_after=faults.retry_after_s)
        roll -= faults.rate_limit_p
        if roll < faults.server_error_p:
            raise VenueUnavailable(f"{self.name}: HTTP 503, service unavailable")
        return faults

    def _market(self, symbol: str) -> MarketInfo:
        market = self.markets.get(symbol)
        if market is None:
            raise InvalidOrder(f"{symbol} is not a trading market on {self.name}.", rule="symbol")
        return market

    def _book(self, symbol: str, depth: int) -> OrderBook:
        """The market's book; a side may be empty (nobody bids), as on a real venue. No data at all: unavailable."""
        book = self.market_data.book(symbol, depth)
        if book is None:
            raise VenueUnavailable(f"{self.name}: no market data for {symbol} (is the simulator running?)")
        return book

    # --- market data ---------------------------------------------------------
    def load_markets(self) -> list[MarketInfo]:
        import json

        from .binance_format import parse_exchange_info

        self._inject()
        path = settings.PAPER_EXCHANGE_INFO
        with open(path) as fh:
            return parse_exchange_info(json.load(fh))

    def fetch_tickers(self) -> dict[str, Ticker]:
        self._inject()
        return self.market_data.tickers()

    def feed_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        return self.feed_books([symbol], depth).get(symbol)

    def feed_books(self, symbols: list[str], depth: int = 20) -> dict[str, OrderBook]:
        """The books the simulator keeps (its snapshot is this venue's market-data feed, as a real venue's websocket
        feed is its): no request, so no request weight and none of the REST faults; one round trip for all."""
        books = self.market_data.books([s for s in symbols if s in self.markets], depth)
        return {s: book for s, book in books.items() if book is not None}

    def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        self._inject()
        self._market(symbol)
        return self._book(symbol, depth)

    # --- trading -------------------------------------------------------------
    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id, prepared=None) -> VenueOrder:
        faults = self._inject()
        market = self._market(symbol)
        if market.external_id and Market.objects.filter(exchange=self.exchange, symbol=symbol,
                                                        resolved_at__isnull=False).exists():  # fmt: skip
            raise InvalidOrder(f"{symbol} on {self.name} has resolved: it no longer trades.", rule="resolved")
        if side not in ("buy", "sell"):
            raise InvalidOrder(f"Side must be buy or sell, not {side!r}.", rule="side")
        if type not in ORDER_TYPES:
            raise InvalidOrder(f"Order type must be one of {', '.join(ORDER_TYPES)}, not {type!r}.", rule="type")
        if type != "market" and price is None:
            raise InvalidOrder(f"A {type} order needs a price.", rule="price")
        amount = Decimal(amount)
        price = Decimal(price) if price is not None and type != "market" else None
        book = self._book(symbol, self.book_depth)
        levels = book.asks if side == "buy" else book.bids
        check_order(market, amount=amount, price=price, reference_price=levels[0][0] if levels else None)

        target = amount
        if faults is not None and type != "limit" and self.rng.random() < faults.partial_fill_p:
            target = floor_to_step(amount * Decimal(str(faults.partial_fill_ratio)), market.amount_step)
        fills = walk_book(levels, target, limit=price, side=side)  # an empty side fills nothing: EXPIRED

        with transaction.atomic():
            try:
                with transaction.atomic():
                    order = PaperOrder.objects.create(
                        exchange=self.exchange, client_order_id=client_order_id, symbol=symbol, side=side,
                        type=type, price=price, amount=amount, status=PaperOrderStatus.OPEN,
                    )  # fmt: skip
            except IntegrityError as exc:
                raise DuplicateClientOrderId(
                    f"{self.name}: client order id {client_order_id} was already used.",
                ) from exc
            balances = self._lock_balances(market)
            if side == "sell" and amount > balances[market.base].free:
                raise InsufficientFunds(
                    f"{self.name}: selling {fmt(amount)} {market.base}; only {fmt(balances[market.base].free)} is free."
                )
            self._take(order, market, balances, fills, is_maker=False)
            remaining = order.amount - order.filled
            if remaining > 0 and type == "limit":
                self._reserve(order, market, balances, remaining)
            elif remaining > 0:
                order.status = PaperOrderStatus.EXPIRED
            order.save()
            self._save_balances(balances)
        result = self._to_venue_order(order, with_trades=True)  # as Binance's FULL response carries its fills
        if faults is not None and self.rng.random() < faults.timeout_after_accept_p:
            raise RequestTimeout(f"{self.name}: no answer within the read timeout (the order may be placed)")
        return result

    def _lock_balances(self, market: MarketInfo) -> dict[str, PaperBalance]:
        assets = sorted({market.base, market.quote})
        PaperBalance.objects.bulk_create(
            [PaperBalance(exchange=self.exchange, asset=a) for a in assets], ignore_conflicts=True
        )
        rows = PaperBalance.objects.filter(exchange=self.exchange, asset__in=assets).order_by("asset")
        return {b.asset: b for b in rows.select_for_update(of=("self",))}

    @staticmethod
    def _save_balances(balances: dict[str, PaperBalance]) -> None:
        for balance in balances.values():
            balance.save(update_fields=["free", "locked"])

    def _take(self, order, market, balances, fills, *, is_maker: bool) -> None:
        """Book `fills` to the order and the ledger, or refuse the whole order for lack of funds."""
        if not fills:
            return
        fee_rate = market.maker_fee if is_maker else market.taker_fee
        base, quote = balances[market.base], balances[market.quote]
        now = datetime.now(UTC)
        amounts = [(p, q, ledger(p * q)) for p, q in fills]
        total_qty = sum((q for _, q, _ in amounts), ZERO)
        total_cost = sum((c for _, _, c in amounts), ZERO)
        if order.side == "buy":
            pay_from_locked = is_maker
            available = quote.locked if pay_from_locked else quote.free
            if total_cost > available:
                raise InsufficientFunds(
                    f"{self.name}: buying {fmt(total_qty)} {market.base} costs {fmt(total_cost)} {market.quote}; "
                    f"only {fmt(quote.free)} {market.quote} is free."
                )
        trades = []
        for p, q, cost in amounts:
            if order.side == "buy":
                fee = ledger(q * fee_rate)
                if is_maker:
                    quote.locked -= cost
                    order.reserved -= cost
                else:
                    quote.free -= cost
                base.free += q - fee
                fee_asset = market.base
            else:
                fee = ledger(cost * fee_rate)
                if is_maker:
                    base.locked -= q
                    order.reserved -= q
                else:
                    base.free -= q
                quote.free += cost - fee
                fee_asset = market.quote
            order.filled += q
            order.cost += cost
            order.fee += fee
            order.fee_asset = fee_asset
            trades.append(
                PaperTrade(
                    exchange=self.exchange, order=order, price=p, amount=q, cost=cost, fee=fee,
                    fee_asset=fee_asset, is_maker=is_maker, executed_at=now,
                )
            )  # fmt: skip
        PaperTrade.objects.bulk_create(trades)
        order.status = PaperOrderStatus.FILLED if order.filled == order.amount else PaperOrderStatus.PARTIALLY_FILLED

    def _reserve(self, order, market, balances, remaining: Decimal) -> None:
        if order.side == "buy":
            need, balance, asset = ledger(remaining * order.price), balances[market.quote], market.quote
        else:
            need, balance, asset = remaining, balances[market.base], market.base
        if need > balance.free:
            raise InsufficientFunds(
                f"{self.name}: the order needs {fmt(need)} {asset}; only {fmt(balance.free)} is free."
            )
        balance.free -= need
        balance.locked += need
        order.reserved += need

    def _release(self, order, market, balances) -> None:
        asset = market.quote if order.side == "buy" else market.base
        balances[asset].locked -= order.reserved
        balances[asset].free += order.reserved
        order.reserved = ZERO

    def match_resting(self, symbols: list[str] | None = None) -> int:
        """Fill resting limit orders the market has reached, as makers at their price. Returns fills made."""
        orders = PaperOrder.objects.filter(exchange=self.exchange, status__in=RESTING, type="limit")
        if symbols is not None:
            orders = orders.filter(symbol__in=symbols)
        candidates = list(orders.values_list("pk", "symbol"))
        if not candidates:
            return 0
        tickers = self.market_data.tickers(sorted({symbol for _, symbol in candidates}))
        made = 0
        for pk, symbol in candidates:
            ticker = tickers.get(symbol)
            if ticker is None:
                continue
            with transaction.atomic():
                order = (
                    PaperOrder.objects.filter(pk=pk, status__in=RESTING)
                    .select_for_update(of=("self",), skip_locked=True)
                    .first()
                )
                if order is None:
                    continue
                crossed = (order.side == "buy" and ticker.ask <= order.price) or (
                    order.side == "sell" and ticker.bid >= order.price
                )
                if not crossed:
                    continue
                market = self._market(symbol)
                size = ticker.ask_size if order.side == "buy" else ticker.bid_size
                qty = floor_to_step(min(order.amount - order.filled, size), market.amount_step)
                if qty <= 0:
                    continue
                balances = self._lock_balances(market)
                self._take(order, market, balances, [(order.price, qty)], is_maker=True)
                if order.status == PaperOrderStatus.FILLED and order.reserved:
                    self._release(order, market, balances)
                order.save()
                self._save_balances(balances)
                made += 1
        return made

    def _get(self, *, order_id=None, client_order_id=None) -> PaperOrder:
        if order_id is None and client_order_id is None:
            raise OrderNotFound("Give a venue order id or a client order id.")
        query = Q(exchange=self.exchange)
        query &= Q(pk=int(order_id)) if order_id is not None else Q(client_order_id=client_order_id)
        order = PaperOrder.objects.filter(query).first()
        if order is None:
            raise OrderNotFound(f"{self.name}: no order {order_id or client_order_id}.")
        return order

    def fetch_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        self._inject()
        self.match_resting([symbol])
        return self._to_venue_order(self._get(order_id=order_id, client_order_id=client_order_id), with_trades=True)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        self._inject()
        self.match_resting([symbol] if symbol else None)
        orders = PaperOrder.objects.filter(exchange=self.exchange, status__in=RESTING)
        if symbol:
            orders = orders.filter(symbol=symbol)
        return [self._to_venue_order(o) for o in orders]

    def cancel_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        self._inject()
        self.match_resting([symbol])  # a real book would have filled it before the cancel arrived
        with transaction.atomic():
            found = self._get(order_id=order_id, client_order_id=client_order_id)
            order = PaperOrder.objects.select_for_update(of=("self",)).get(pk=found.pk)
            if order.status not in RESTING:
                raise OrderNotFound(f"{self.name}: order {order.pk} is {order.status}; nothing to cancel.")
            market = self._market(order.symbol)
            balances = self._lock_balances(market)
            self._release(order, market, balances)
            order.status = PaperOrderStatus.CANCELED
            order.save()
            self._save_balances(balances)
        return self._to_venue_order(order)

    def fetch_balance(self) -> dict[str, BalanceEntry]:
        self._inject()
        return {
            b.asset: BalanceEntry(b.asset, b.free, b.locked)
            for b in PaperBalance.objects.filter(exchange=self.exchange)
        }

    def fetch_my_trades(self, *, symbol=None, since_ms=None) -> list[VenueTrade]:
        self._inject()
        trades = PaperTrade.objects.filter(exchange=self.exchange).select_related("order")
        if symbol:
            trades = trades.filter(order__symbol=symbol)
        if since_ms is not None:
            trades = trades.filter(executed_at__gte=from_ms(since_ms))
        return [self._to_venue_trade(t) for t in trades.order_by("id")[:1000]]

    # --- prediction markets ----------------------------------------------------
    def fetch_resolution(self, symbol: str) -> Resolution | None:
        """A paper outcome market resolves when an operator declares it (`manage.py resolve_market`)."""
        self._inject()
        row = Market.objects.filter(exchange=self.exchange, symbol=symbol, resolved_at__isnull=False).first()
        if row is None:
            return None
        return Resolution(symbol, row.payout, row.resolved_outcome, f"declared on {self.name}")

    def redeem(self, symbol: str) -> Decimal:
        """Every token of the resolved market held turned into its quote at the payout; resting orders in it are
        canceled first, as the venue's book closes. Idempotent: a second call finds nothing held and pays 0."""
        self._inject()
        row = Market.objects.filter(exchange=self.exchange, symbol=symbol).first()
        if row is None or row.resolved_at is None:
            raise InvalidOrder(f"{symbol} on {self.name} has not resolved: nothing to redeem.", rule="resolved")
        market = row.info()
        with transaction.atomic():
            balances = self._lock_balances(market)
            resting = PaperOrder.objects.filter(exchange=self.exchange, symbol=symbol, status__in=RESTING)
            for order in resting.select_for_update(of=("self",)):
                self._release(order, market, balances)
                order.status = PaperOrderStatus.CANCELED
                order.save()
            held = balances[market.base].free
            paid = held * row.payout
            balances[market.base].free = ZERO
            balances[market.quote].free += paid
            self._save_balances(balances)
        return paid

    # --- conversion ----------------------------------------------------------
    @staticmethod
    def _to_venue_trade(t: PaperTrade) -> VenueTrade:
        o = t.order
        return VenueTrade(
            id=str(t.pk), order_id=str(o.pk), client_order_id=o.client_order_id, symbol=o.symbol, side=o.side,
            price=t.price, amount=t.amount, cost=t.cost, fee=t.fee, fee_asset=t.fee_asset, is_maker=t.is_maker,
            ts_ms=to_ms(t.executed_at),
        )  # fmt: skip

    def _to_venue_order(self, o: PaperOrder, *, with_trades: bool = False) -> VenueOrder:
        trades = tuple(self._to_venue_trade(t) for t in o.trades.all()) if with_trades else ()
        return VenueOrder(
            id=str(o.pk), client_order_id=o.client_order_id, symbol=o.symbol, side=o.side, type=o.type,
            price=o.price, amount=o.amount, filled=o.filled, cost=o.cost, fee=o.fee, fee_asset=o.fee_asset,
            status=o.status, ts_ms=to_ms(o.created_at), trades=trades,
        )  # fmt: skip


def paper_deposit(*, exchange: Exchange, asset: str, amount: Decimal) -> PaperBalance:
    """Credit a paper balance (demo funding, tests)."""
    with transaction.atomic():
        balance, _ = PaperBalance.objects.select_for_update().get_or_create(exchange=exchange, asset=asset)
        balance.free += Decimal(amount)
        balance.save(update_fields=["free"])
    return balance
