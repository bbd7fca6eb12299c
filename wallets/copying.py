"""Placing copies: one copy per source fill, ever, sized by risk and managed as a position.

A buy opens a position on the wallet's copy account (its own TP ladder and
stop from the wallet's settings); the copy row is claimed (PENDING →
SUBMITTED) in the transaction that records that position, so a retry, a
redelivered task or a restarted worker finds it claimed and places nothing.
A sell sells what our copies of that wallet hold in that market, in the
proportion the wallet sold of what we saw it buy, never more than we hold;
its claim is made in the transaction that records the first sell order.
At most COPY_CONCURRENCY copies are being placed at once across all workers.
"""

import logging
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import metrics
from core.errors import Conflict, IllegalTransition
from core.isolation import Loop, record_failure
from exchanges.errors import VenueError
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step, fmt
from orders.errors import OrderRejected
from orders.models import Order
from positions.actions import position_reduce
from positions.models import Position, PositionPhase, PositionSource
from positions.opening import position_open

from .markets import market_for
from .models import CopyTrade, CopyTradeStatus, WalletTrade
from .services import copy_trade_transition
from .sizing import ladder_prices, size_copy, stop_price
from .slots import copy_slot

log = logging.getLogger(__name__)
CT = CopyTradeStatus
BOOK_DEPTH = 20


def copy_trade_execute(*, copy_trade_id: int, venue=None) -> str:
    """Decide and place one copy (SlotsBusy when every slot is taken: the caller retries)."""
    copy = CopyTrade.objects.select_related("wallet_trade__wallet__copy_exchange").get(pk=copy_trade_id)
    if copy.status == CT.SUBMITTED and copy.wallet_trade.side == "sell":
        return _place_sells(copy, venue or get_venue(copy.wallet_trade.wallet.copy_exchange))  # resumed
    if copy.status != CT.PENDING:
        return copy.status
    trade = copy.wallet_trade
    wallet = trade.wallet
    exchange = wallet.copy_exchange
    if not wallet.copy_enabled or exchange is None or not wallet.enabled:
        return _skip(copy, "copying was turned off before the copy was placed")
    market = market_for(exchange.pk, trade.asset)
    if market is None:
        return _skip(copy, f"{exchange.name} has no market for asset {trade.asset[:40]}")
    with copy_slot():
        venue = venue or get_venue(exchange)
        if trade.side == "buy":
            return _copy_buy(copy, trade, exchange, market, venue)
        return _copy_sell(copy, trade, exchange, market, venue)


def _skip(copy: CopyTrade, reason: str, decision: dict | None = None) -> str:
    try:
        copy_trade_transition(copy_trade_id=copy.pk, to=CT.SKIPPED, reason=reason[:2000], decision=decision or {})
    except IllegalTransition:
        return CopyTrade.objects.get(pk=copy.pk).status
    log.info("copy %s skipped: %s", copy.pk, reason)
    return CT.SKIPPED


def _claim(copy: CopyTrade, **fields):
    """The one place a copy is claimed: inside the transaction that records what it places."""

    def claim(position: Position | None = None) -> None:
        linked = {"position": position} if position is not None else {}
        _, changed = copy_trade_transition(copy_trade_id=copy.pk, to=CT.SUBMITTED, submitted_at=timezone.now(),
                                           **fields, **linked)  # fmt: skip
        if not changed:  # submitted already (another worker, or a redelivery): what it placed is the copy
            raise IllegalTransition(f"Copy {copy.pk} is claimed already.")

    return claim


def equity(exchange: Exchange, quote: str, venue) -> Decimal:
    """What the account holds in `quote`, plus its open positions quoted in it at their mark (or entry)."""
    cash = venue.fetch_balance().get(quote)
    held = Position.objects.filter(exchange=exchange, market__quote=quote).exclude(phase=PositionPhase.CLOSED)
    price = Coalesce(F("mark_price"), F("entry_price"), Value(Decimal(0)), output_field=DecimalField())
    marked = held.aggregate(v=Sum(F("remaining") * price, output_field=DecimalField()))["v"]
    return (cash.total if cash else Decimal(0)) + (marked or Decimal(0))


def _copy_buy(copy: CopyTrade, trade: WalletTrade, exchange: Exchange, market: Market, venue) -> str:
    wallet = trade.wallet
    book = venue.fetch_order_book(market.symbol, BOOK_DEPTH)
    if not book.asks:
        return _skip(copy, f"nobody sells on {market.symbol} right now")
    entry = book.asks[0][0]
    stop = stop_price(entry, wallet.stop_loss_pct, market.price_step)
    size = size_copy(
        equity=equity(exchange, market.quote, venue), risk_pct=wallet.risk_pct, entry=entry, stop=stop,
        source_size=trade.size, copy_ratio=wallet.copy_ratio, book_depth=sum((a for _, a in book.asks), Decimal(0)),
        market=market.info(), max_position_quote=wallet.max_position_size,
    )  # fmt: skip
    if size.skipped:
        return _skip(copy, size.reason, size.decision)
    ladder = ladder_prices(entry, wallet.take_profit_ladder, market.price_step)
    try:
        position = position_open(
            exchange=exchange, symbol=market.symbol, amount=size.amount, take_profits=ladder, stop_loss=stop,
            reference=entry, requested_by=f"copy of {wallet.address} fill {trade.pk}", venue=venue,
            source=PositionSource.COPY, copy_trade=copy,
            created=_claim(copy, size=size.amount, reason=size.reason, decision=size.decision),
        )  # fmt: skip
    except IllegalTransition:
        return CopyTrade.objects.get(pk=copy.pk).status  # claimed by another worker: nothing placed here
    except ValidationError as exc:
        return _skip(copy, "; ".join(exc.messages), size.decision)
    except Conflict as exc:  # new entries stopped on the account
        return _skip(copy, str(exc), size.decision)
    except OrderRejected as exc:
        copy_trade_transition(copy_trade_id=copy.pk, to=CT.FAILED, reason=f"{size.reason}; rejected: {exc}"[:2000])
        return CT.FAILED
    log.info("copy %s: position %s opened (%s)", copy.pk, position.pk, size.reason)
    metrics.observe(metrics.copy_latency, (timezone.now() - trade.detected_at).total_seconds(), side="buy")
    return copy_settle(copy_trade_id=copy.pk)


def _source_held_before(trade: WalletTrade) -> Decimal:
    """What we saw the wallet hold of the asset before this fill (its buys less its sells, since we watch it)."""
    earlier = WalletTrade.objects.filter(wallet_id=trade.wallet_id, asset=trade.asset).filter(
        Q(traded_at__lt=trade.traded_at) | Q(traded_at=trade.traded_at, pk__lt=trade.pk)
    )
    held = earlier.aggregate(bought=Sum("size", filter=Q(side="buy")), sold=Sum("size", filter=Q(side="sell")))
    return (held["bought"] or Decimal(0)) - (held["sold"] or Decimal(0))


def _copy_sell(copy: CopyTrade, trade: WalletTrade, exchange: Exchange, market: Market, venue) -> str:
    copies_of_wallet = Position.objects.filter(
        exchange=exchange, market=market, source=PositionSource.COPY, copies__wallet_trade__wallet_id=trade.wallet_id
    )
    ours = list(copies_of_wallet.exclude(phase__in=[PositionPhase.CLOSED, PositionPhase.BUILDING]).distinct())
    held = sum((p.remaining for p in ours), Decimal(0))
    if held <= 0:
        return _skip(copy, f"we hold nothing of {market.symbol} from this wallet's copies (a sell copies only "
                           "what we hold)")  # fmt: skip
    theirs = _source_held_before(trade)
    fraction = min(Decimal(1), trade.size / theirs) if theirs > 0 else Decimal(1)
    plan = {}
    for position in ours:
        amount = floor_to_step(position.remaining * fraction, market.amount_step)
        if position.remaining - amount < market.min_amount:
            amount = position.remaining  # no dust left behind
        if amount >= market.min_amount and amount > 0:
            plan[str(position.pk)] = fmt(amount)
    decision = {"source_sold": fmt(trade.size), "source_held_before": fmt(theirs), "fraction": fmt(fraction),
                "we_held": fmt(held), "sells": plan}  # fmt: skip
    if not plan:
        return _skip(copy, f"{fraction:.2%} of what we hold is under the market minimum", decision)
    total = sum((Decimal(a) for a in plan.values()), Decimal(0))
    reason = (f"the wallet sold {fmt(trade.size)} of the {fmt(theirs)} we saw it hold ({fraction:.2%}); "
              f"we sell {fmt(total)} of our {fmt(held)}")  # fmt: skip
    try:  # the plan is claimed before anything is sold; each sell is then placed at most once (its intent)
        _claim(copy, size=total, reason=reason, decision=decision)()
    except IllegalTransition:
        return CopyTrade.objects.get(pk=copy.pk).status
    copy.decision = decision
    outcome = _place_sells(copy, venue)
    metrics.observe(metrics.copy_latency, (timezone.now() - trade.detected_at).total_seconds(), side="sell")
    return outcome


def _place_sells(copy: CopyTrade, venue) -> str:
    """The claimed plan's sells not placed yet (after a crash, or the first time); at most once each."""
    who = f"copy of {copy.wallet_trade.wallet.address} fill {copy.wallet_trade_id}"
    for position_id, amount in copy.decision.get("sells", {}).items():
        try:
            position_reduce(position_id=int(position_id), amount=Decimal(amount), venue=venue, copy_trade=copy,
                            tag=f"c{copy.pk}", requested_by=who)  # fmt: skip
        except (Conflict, ValidationError, OrderRejected, VenueError) as exc:
            log.warning("copy %s: sell on position %s not placed: %s", copy.pk, position_id, exc)
    return copy_settle(copy_trade_id=copy.pk)


def _unplaced_sells(copy: CopyTrade, orders: list[Order]) -> list[int]:
    """Positions of a sell copy's plan with no order yet and still open (a crash came between claim and sell)."""
    planned = {int(pk) for pk in copy.decision.get("sells", {})}
    placed = {o.position_id for o in orders}
    still_open = Position.objects.filter(pk__in=planned - placed).exclude(phase=PositionPhase.CLOSED)
    return list(still_open.values_list("pk", flat=True))


def copy_settle(*, copy_trade_id: int) -> str:
    """A submitted copy is FILLED once its orders have ended with something traded, FAILED with nothing."""
    copy = CopyTrade.objects.select_related("position", "wallet_trade").get(pk=copy_trade_id)
    if copy.status != CT.SUBMITTED:
        return copy.status
    orders = list(Order.objects.filter(copy_trade=copy).order_by("pk"))
    if copy.wallet_trade.side == "sell" and _unplaced_sells(copy, orders):
        return CT.SUBMITTED  # copies_requeue_stale sends it again to place the rest
    if not orders:
        position = copy.position
        if copy.wallet_trade.side == "sell" or (position is not None and position.phase == PositionPhase.CLOSED):
            copy_trade_transition(copy_trade_id=copy.pk, to=CT.FAILED, reason=f"{copy.reason}; nothing was "
                                  "placed (the worker stopped first, or the positions closed meanwhile)")  # fmt: skip
            return CT.FAILED
        return CT.SUBMITTED
    if not all(o.is_terminal for o in orders):
        CopyTrade.objects.filter(pk=copy.pk, order=None).update(order=orders[0])
        return CT.SUBMITTED
    filled = sum((o.filled for o in orders), Decimal(0))
    to = CT.FILLED if filled > 0 else CT.FAILED
    copy_trade_transition(copy_trade_id=copy.pk, to=to, order=orders[0],
                          **({} if filled > 0 else {"reason": f"{copy.reason}; nothing traded"}))  # fmt: skip
    return to


def _not_backed_off(now):
    return Q(retry_at__isnull=True) | Q(retry_at__lte=now)


def copies_settle_submitted(limit: int = 500) -> int:
    """The beat's pass over submitted copies (their orders may have ended since); one failing copy is recorded
    on itself and backed off, the others are settled in the same pass."""
    now = timezone.now()
    ids = list(CopyTrade.objects.filter(_not_backed_off(now), status=CT.SUBMITTED).order_by("pk")
               .values_list("pk", flat=True)[:limit])  # fmt: skip
    loop, settled = Loop("copy settling"), 0
    for pk in ids:
        with loop.item(f"copy {pk}", on_error=partial(record_failure, CopyTrade, pk, now=now, due_field="retry_at")):
            settled += copy_settle(copy_trade_id=pk) != CT.SUBMITTED
    return settled


def copies_requeue_stale() -> int:
    """Copies a dead worker left behind are queued again: pending ones whose task was lost, and sells
    claimed whose orders were not all placed (placing is idempotent: what was placed is not placed again)."""
    from .tasks import copy_trade

    stale = timezone.now() - timedelta(seconds=settings.COPY_PENDING_RETRY_S)
    waiting = Q(status=CT.PENDING, created_at__lt=stale) | Q(
        status=CT.SUBMITTED, wallet_trade__side="sell", submitted_at__lt=stale
    )
    now = timezone.now()
    candidates = CopyTrade.objects.filter(waiting, _not_backed_off(now), updated_at__lt=stale).select_related(
        "wallet_trade"
    )[:500]
    loop, ids = Loop("copy requeueing"), []
    for copy in candidates:
        failed = partial(record_failure, CopyTrade, copy.pk, now=now, due_field="retry_at")
        with loop.item(f"copy {copy.pk}", on_error=failed, previous=copy.last_error):
            if copy.status == CT.PENDING or _unplaced_sells(copy, list(Order.objects.filter(copy_trade=copy))):
                ids.append(copy.pk)
    if ids:
        CopyTrade.objects.filter(pk__in=ids).update(updated_at=now)
    for pk in ids:
        copy_trade.delay(pk)
    return len(ids)
