"""Writes for rebalances: a plan (the dry run, nothing placed) and its execution (targets: rebalance_targets.py).

A plan prices the portfolio, measures each asset's trade to and from the quote on the books (the liquidation
router: a direct market, or a route of several hops where there is none), and asks the planner
(rebalance_plan.py) for the fewest orders that bring every weight within tolerance, then the cheapest. Each trade
is then walked on the books for its actual amount (lots floored, minimums checked) to give its expected cost and
the weights after.

Executing runs the trades one at a time, sells first so the buys have the quote. Each trade runs as a conversion
(a liquidation.PanicSell to the asset wanted), created under the rebalance's row lock in the transaction that
marks the trade WORKING; its orders go through order_place with intents of their own. So a crash anywhere
resumes without doubling anything: a trade is started once, a conversion places each hop once, and
`rebalance_advance` (chained while it works, swept by beat) picks up where the rows say it stands.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, DomainError
from core.failpoints import failpoint
from core.statemachine import transition_locked
from exchanges.errors import VenueError
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.valuation import asset_prices
from exchanges.venue import Venue
from liquidation.models import PanicSellState
from liquidation.routing import Route, Router
from liquidation.services import panic_sell_advance, panic_sell_create, route_policy, venue_router

from .models import Rebalance, RebalanceState, RebalanceTarget, RebalanceTrade, RebalanceTradeState
from .rebalance_plan import BUY, SELL, Holding, Leg, Problem, plan

log = logging.getLogger(__name__)
TS = RebalanceTradeState


# --- planning (the dry run) -----------------------------------------------------------------------
def rebalance_plan(
    *, exchange: Exchange, requested_by: str, venue: Venue | None = None, record_empty: bool = True
) -> Rebalance | None:
    """Plan the account's rebalance and record it PLANNED; nothing is placed. DomainError when it cannot be.
    A plan with nothing to trade is recorded too, unless `record_empty` is False (None then)."""
    target = RebalanceTarget.objects.filter(exchange=exchange).first()
    if target is None:
        raise DomainError(f"{exchange.name} has no target weights: set them first.")
    venue = venue or get_venue(exchange)
    quote, weights = target.quote, target.portfolio()
    assets = sorted(set(weights) - {quote})
    balances, tickers, prices = _priced(exchange, venue, quote)
    unpriced = [a for a in assets if a not in prices]
    if unpriced:
        raise DomainError(f"No price in {quote} for {', '.join(unpriced)}: nothing trades them to it.")
    held = {a: balances[a].free if a in balances else Decimal(0) for a in [*assets, quote]}
    values = {a: float(held[a] * prices[a]) for a in held}
    total = sum(values.values())
    if total <= 0:
        raise DomainError(f"{exchange.name} holds none of {', '.join([*assets, quote])}: nothing to rebalance.")
    router = venue_router(exchange, venue, tickers=tickers)
    refused: dict[str, str] = {}  # asset -> why the router had no leg for it, one way or the other
    legs = {a: _legs(router, a, quote, held[a], abs(float(weights[a]) * total - values[a]), total, prices, refused)
            for a in assets}  # fmt: skip
    problem = Problem(
        quote, values[quote], float(weights[quote]),
        tuple(Holding(a, values[a], float(weights[a]), sell=legs[a][0], buy=legs[a][1]) for a in assets),
        tolerance=float(target.tolerance), aim=float(target.aim),
    )  # fmt: skip
    planned = plan(problem)
    if not planned.ok:
        why = "; ".join(r for a, r in sorted(refused.items()) if a in planned.reason)
        raise DomainError(f"No rebalance of {exchange.name} reaches its targets: {planned.reason}"
                          + (f" ({why})." if why else "."))  # fmt: skip
    rows, after = _walk(router, planned, quote, held, prices, values)
    if not rows and not record_empty:
        return None
    after_total = sum(after.values()) or 1.0
    with transaction.atomic():
        rebalance = Rebalance.objects.create(
            exchange=exchange, quote=quote, weights=target.weights, tolerance=target.tolerance, aim=target.aim,
            value=_dec(total), expected_cost=_dec(sum(r["expected_cost"] for r in rows)),
            orders=sum(r["orders"] for r in rows), requested_by=requested_by,
            before={a: {"amount": str(held[a]), "price": str(prices[a]), "value": round(values[a], 8),
                        "weight": round(values[a] / total, 6)} for a in held},
            expected_after={a: round(v / after_total, 6) for a, v in after.items()},
        )  # fmt: skip
        RebalanceTrade.objects.bulk_create(
            RebalanceTrade(rebalance=rebalance, seq=i, **{k: _dec(v) if isinstance(v, float) else v
                                                          for k, v in row.items()})
            for i, row in enumerate(rows, start=1)
        )  # fmt: skip
    log.info("rebalance %s of %s planned: %s trades, %s orders, expected cost %s %s", rebalance.pk, exchange.name,
             len(rows), rebalance.orders, rebalance.expected_cost, quote)  # fmt: skip
    return rebalance


def _priced(exchange: Exchange, venue: Venue, quote: str) -> tuple[dict, dict, dict[str, Decimal]]:
    """The account's balances, the tickers, and the price in `quote` of every asset its markets trade (one call
    each)."""
    balances, tickers = venue.fetch_balance(), venue.fetch_tickers()
    markets = list(Market.objects.filter(exchange=exchange, active=True).values_list("symbol", "base", "quote"))
    return balances, tickers, asset_prices({a for _, b, q in markets for a in (b, q)}, quote, tickers, markets)


def _dec(value: float) -> Decimal:
    return Decimal(repr(round(value, 10)))


def _policy(target: str):
    return route_policy(base_currencies=[target], max_hops=settings.PANIC_MAX_HOPS, preferred_intermediaries=[],
                        max_total_slippage_bps=settings.PANIC_MAX_SLIPPAGE_BPS)  # fmt: skip


def _legs(router: Router, asset: str, quote: str, held: Decimal, gap: float, total: float, prices, refused) -> tuple:
    """The asset's sell and buy legs, measured on the books for a trade the size of its gap to target; the
    router's reason for a leg it has not goes in `refused`."""
    legs = []
    for side in (SELL, BUY):
        probe = max(gap, 0.01 * total)
        amount = min(float(held), probe / float(prices[asset])) if side == SELL else probe
        if amount <= 0:
            legs.append(None)
            continue
        result = (
            router.route(asset, amount, _policy(quote)) if side == SELL else router.route(quote, amount, _policy(asset))
        )
        if not result.ok:
            refused[asset] = "; ".join(filter(None, [refused.get(asset), f"to {side} {asset}: {result.reason}"]))
            legs.append(None)
            continue
        route = result.route
        legs.append(Leg(cost_rate=max(0.0, _cost(route, side, prices) / _value_in(route, side, prices)),
                        orders=len(route.hops), min_value=_minimum(router, route, prices)))  # fmt: skip
    return tuple(legs)


def _value_in(route: Route, side: str, prices) -> float:
    """What the route starts from, in the quote at the valuation prices."""
    return route.amount * (float(prices[route.asset]) if side == SELL else 1.0)


def _cost(route: Route, side: str, prices) -> float:
    """What the route loses, in the quote: what goes in less what comes out, both at the valuation prices."""
    out = route.proceeds * (1.0 if side == SELL else float(prices[route.target]))
    return _value_in(route, side, prices) - out


def _minimum(router: Router, route: Route, prices) -> float:
    """The smallest trade along the route its markets accept, in the quote, with a margin for moves and lots."""
    smallest = 0.0
    for hop in route.hops:
        m = router.markets[hop.symbol]
        smallest = max(smallest, float(m.min_notional) * float(prices.get(m.quote, 0)),
                       float(m.min_amount) * float(prices.get(m.base, 0)))  # fmt: skip
    return smallest * 1.05


def _walk(router: Router, planned, quote: str, held: dict, prices, values: dict) -> tuple[list[dict], dict]:
    """Each planned trade at its actual amount (lots floored) on the books: its row, and the values after."""
    after = dict(values)
    rows = []
    for t in sorted(planned.trades, key=lambda t: (t.side != SELL, -t.amount)):
        price = prices[t.asset]
        if t.side == SELL:
            units = Decimal(repr(t.amount)) / price
            probe = router.route(t.asset, float(units), _policy(quote))
            step = router.markets[probe.route.hops[0].symbol].amount_step if probe.ok else Decimal("1e-8")
            amount = min(floor_to_step(units, step), held[t.asset])
            result = router.route(t.asset, float(amount), _policy(quote))
        else:
            amount = Decimal(repr(t.amount)).quantize(Decimal("1e-8"))
            result = router.route(quote, float(amount), _policy(t.asset))
        if amount <= 0 or not result.ok:
            why = result.reason if amount > 0 else "under the smallest lot"
            raise DomainError(f"The plan's {t.side} of {t.asset} cannot be placed as sized: {why}.")
        route, cost = result.route, _cost(result.route, t.side, prices)
        value = _value_in(route, t.side, prices)
        if t.side == SELL:
            after[t.asset] -= value
            after[quote] += value - cost
        else:
            after[quote] -= value
            after[t.asset] += value - cost
        rows.append({"asset": t.asset, "side": t.side, "amount": amount, "value": value, "expected_cost": cost,
                     "route": route.path, "orders": len(route.hops)})  # fmt: skip
    return rows, after


# --- executing ----------------------------------------------------------------------------------------
def _locked():
    return Rebalance.objects.order_by("pk").select_for_update(of=("self",))


def rebalance_execute(*, rebalance_id: int, requested_by: str) -> Rebalance:
    """Start a planned rebalance. Conflict when its plan is too old to trust, or another one is executing."""
    rebalance = Rebalance.objects.get(pk=rebalance_id)
    if rebalance.state != RebalanceState.PLANNED:
        raise Conflict(f"Rebalance {rebalance_id} is {rebalance.state}, not planned.")
    age = (timezone.now() - rebalance.created_at).total_seconds()
    if age > settings.REBALANCE_PLAN_TTL_S:
        raise Conflict(f"Rebalance {rebalance_id} was planned {age:.0f} s ago, longer than the "
                       f"{settings.REBALANCE_PLAN_TTL_S:.0f} s a plan is trusted for: plan it again.")  # fmt: skip
    if not rebalance.trades.exists():
        rebalance, _ = transition_locked(_locked(), pk=rebalance_id, to=RebalanceState.COMPLETED,
                                         started_at=timezone.now(), finished_at=timezone.now(),
                                         after=rebalance.expected_after)  # fmt: skip
        return rebalance
    try:
        with transaction.atomic():
            rebalance, changed = transition_locked(_locked(), pk=rebalance_id, to=RebalanceState.EXECUTING,
                                                   started_at=timezone.now())  # fmt: skip
            if changed:
                rebalance_schedule(rebalance_id=rebalance_id)
    except IntegrityError as exc:
        raise Conflict(f"A rebalance of {rebalance.exchange.name} is executing already.") from exc
    log.warning("rebalance %s executed by %s", rebalance_id, requested_by)
    return rebalance


def rebalance_cancel(*, rebalance_id: int, requested_by: str) -> Rebalance:
    """Cancel a planned rebalance, or stop an executing one before its next trade (the working one finishes)."""
    rebalance, changed = transition_locked(_locked(), pk=rebalance_id, to=RebalanceState.CANCELED,
                                           finished_at=timezone.now(), error=f"canceled by {requested_by}")  # fmt: skip
    if not changed:
        raise Conflict(f"Rebalance {rebalance_id} is {rebalance.state}: there is nothing to cancel.")
    return rebalance


def rebalance_schedule(*, rebalance_id: int, countdown: float = 0.0) -> None:
    from .tasks import rebalance_advance as advance

    transaction.on_commit(lambda: advance.apply_async((rebalance_id,), countdown=countdown))


def rebalance_advance(*, rebalance_id: int, venue: Venue | None = None) -> str:
    """Take the rebalance as far as it can go now: start its next trade, drive the working one, finish it."""
    while True:
        rebalance = Rebalance.objects.select_related("exchange").get(pk=rebalance_id)
        if rebalance.state != RebalanceState.EXECUTING:
            return "done"
        trade = rebalance.trades.exclude(state__in=[TS.DONE, TS.SKIPPED]).select_related("conversion").first()
        if trade is None:
            return _finish(rebalance, venue or get_venue(rebalance.exchange))
        if trade.state == TS.FAILED:
            return _fail(rebalance, f"trade {trade.seq} ({trade.side} {trade.asset}) failed: {trade.note}")
        venue = venue or get_venue(rebalance.exchange)
        if trade.state == TS.PLANNED:
            if trade.seq > 1:
                failpoint("rebalance.between_trades")
            if not _start(rebalance, trade, venue):
                continue  # skipped, or started by another worker meanwhile
            trade.refresh_from_db()
        conversion = trade.conversion
        if conversion.state == PanicSellState.ACTIVE:
            panic_sell_advance(panic_sell_id=conversion.pk, venue=venue)
            conversion.refresh_from_db()
        if conversion.state == PanicSellState.ACTIVE:
            Rebalance.objects.filter(pk=rebalance_id).update(updated_at=timezone.now())
            rebalance_schedule(rebalance_id=rebalance_id, countdown=settings.REBALANCE_POLL_S)
            return "waiting"
        done = conversion.state == PanicSellState.COMPLETED
        RebalanceTrade.objects.filter(pk=trade.pk, state=TS.WORKING).update(
            state=TS.DONE if done else TS.FAILED, received=conversion.held_amount,
            received_asset=conversion.held_asset, note="" if done else conversion.error[:300],
        )  # fmt: skip


def _start(rebalance: Rebalance, trade: RebalanceTrade, venue: Venue) -> bool:
    """Start the trade's conversion for what the account has now (at most as planned); False if it did not.

    With none of what it spends left, the trade is skipped; with less than planned (a sell's proceeds net of
    fees), it spends what there is, and a venue that finds that under its minimum fails it with the reason."""
    spend, get = (trade.asset, rebalance.quote) if trade.side == SELL else (rebalance.quote, trade.asset)
    balance = venue.fetch_balance().get(spend)
    amount = min(trade.amount, balance.free if balance else Decimal(0))
    with transaction.atomic():
        locked = _locked().get(pk=rebalance.pk)
        row = RebalanceTrade.objects.select_for_update().get(pk=trade.pk)
        if locked.state != RebalanceState.EXECUTING or row.state != TS.PLANNED:
            return False
        if amount <= 0:
            row.state, row.note = TS.SKIPPED, f"no {spend} left to {trade.side} with when its turn came"
            row.save(update_fields=["state", "note"])
            return True
        row.conversion = panic_sell_create(
            exchange=rebalance.exchange, asset=spend, amount=amount, requested_by=rebalance.requested_by,
            reason=f"rebalance {rebalance.pk}: {trade.side} {trade.asset}", base_currencies=[get],
        )  # fmt: skip
        row.state = TS.WORKING
        row.save(update_fields=["conversion", "state"])
    return True


def _finish(rebalance: Rebalance, venue: Venue) -> str:
    balances, _, prices = _priced(rebalance.exchange, venue, rebalance.quote)
    values = {a: float(balances[a].free * prices[a]) if a in balances and a in prices else 0.0
              for a in {*rebalance.weights, rebalance.quote}}  # fmt: skip
    total = sum(values.values()) or 1.0
    transition_locked(_locked(), pk=rebalance.pk, to=RebalanceState.COMPLETED, finished_at=timezone.now(),
                      after={a: round(v / total, 6) for a, v in sorted(values.items())})  # fmt: skip
    log.info("rebalance %s completed", rebalance.pk)
    return "completed"


def _fail(rebalance: Rebalance, why: str) -> str:
    transition_locked(_locked(), pk=rebalance.pk, to=RebalanceState.FAILED, finished_at=timezone.now(), error=why)
    log.error("rebalance %s failed: %s", rebalance.pk, why)
    return "failed"


def rebalances_auto() -> list[int]:
    """Beat's: each account whose targets say `auto`, out of tolerance and not rebalancing, rebalanced now. An
    account whose new entries are halted (the kill switch, a risk limit) is not: an operator may still execute."""
    started = []
    targets = RebalanceTarget.objects.filter(auto=True, exchange__enabled=True, exchange__entries_halted_by="")
    targets = targets.select_related("exchange")
    for target in targets.order_by("exchange__name"):
        if Rebalance.objects.filter(exchange=target.exchange, state=RebalanceState.EXECUTING).exists():
            continue
        try:
            rebalance = rebalance_plan(exchange=target.exchange, requested_by="auto", record_empty=False)
            if rebalance is not None:
                rebalance_execute(rebalance_id=rebalance.pk, requested_by="auto")
                started.append(rebalance.pk)
        except (DomainError, VenueError) as exc:  # tried again next time
            log.warning("auto rebalance of %s not done: %s", target.exchange.name, exc)
    return started


def rebalances_resume() -> int:
    """Beat's sweep: executing rebalances nobody has advanced lately (their chained task lost) advanced again."""
    stale = timezone.now() - timedelta(seconds=settings.REBALANCE_STALL_S)
    ids = list(Rebalance.objects.filter(state=RebalanceState.EXECUTING, updated_at__lt=stale)
               .values_list("pk", flat=True))  # fmt: skip
    for pk in ids:
        rebalance_schedule(rebalance_id=pk)
    return len(ids)
