"""Writes for panic sells: start one, then route and place its hops one at a time until a base currency is held.

A panic sell belongs to nobody but may serve an owner (a cycle that failed mid-way): the owner registers
hooks (`register_panic_owner`, from its AppConfig.ready) that run in the panic sell's own transactions, so
this app knows nothing of what it liquidates for.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.assets import asset_codes
from core.errors import Conflict, DomainError
from core.failpoints import failpoint
from core.statemachine import still_in_state, transition_locked
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.venue import Venue
from orders.errors import OrderRejected
from orders.models import Order, OrderPurpose, OrderRole
from orders.policy import monitoring_policy_of
from orders.services import order_place

from .conversion import add_residual, with_buy_buffer
from .locks import panic_sells_for_update
from .models import PanicSell, PanicSellState
from .routing import RoutePolicy, Router

log = logging.getLogger(__name__)


# --- owners ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PanicOwner:
    """What the owner a panic sell names in `field` (a foreign key) does as it goes.

    Each hook runs inside the transaction that changes the panic sell, under its row lock.
    """

    field: str
    on_progress: Callable[[PanicSell], None]  # a hop accounted: held_asset / held_amount moved
    on_completed: Callable[[PanicSell], None]
    on_failed: Callable[[PanicSell, str], None]


_owners: list[PanicOwner] = []


def register_panic_owner(owner: PanicOwner) -> None:
    if owner in _owners:
        return
    if any(o.field == owner.field for o in _owners):
        raise ValueError(f"a panic-sell owner for {owner.field!r} is registered already")
    _owners.append(owner)


def _owner_of(panic: PanicSell) -> PanicOwner | None:
    return next((o for o in _owners if getattr(panic, f"{o.field}_id", None) is not None), None)


# --- routing ------------------------------------------------------------------------------------
def default_routing() -> dict:
    """The routing fields of a panic sell nobody configured (a balance, a position's proceeds)."""
    return {
        "base_currencies": list(settings.PANIC_BASE_CURRENCIES), "preferred_intermediaries": [],
        "max_hops": settings.PANIC_MAX_HOPS, "max_total_slippage_bps": settings.PANIC_MAX_SLIPPAGE_BPS,
    }  # fmt: skip


def route_policy(
    *, base_currencies: list[str], max_hops: int, preferred_intermediaries: list[str], max_total_slippage_bps: float
) -> RoutePolicy:
    """A routing policy with the platform's volatility widening (PANIC_VOLATILITY_K, PANIC_SLIPPAGE_CAP_BPS)."""
    return RoutePolicy(
        base_currencies=base_currencies, max_hops=max_hops, preferred_intermediaries=preferred_intermediaries,
        max_total_slippage_bps=float(max_total_slippage_bps), volatility_k=settings.PANIC_VOLATILITY_K,
        max_slippage_cap_bps=settings.PANIC_SLIPPAGE_CAP_BPS,
    )  # fmt: skip


def venue_router(exchange: Exchange, venue: Venue, *, tickers: dict | None = None) -> Router:
    """A router over the account's markets: one tickers call for the bound (none when the caller has just read
    them), books fetched as explored."""
    router = Router(
        [m.info() for m in Market.objects.filter(exchange=exchange, active=True)],
        book_loader=lambda symbol: venue.fetch_order_book(symbol, 20),
    )
    router.set_tickers((venue.fetch_tickers() if tickers is None else tickers).values())
    return router


# --- starting one -------------------------------------------------------------------------------
def panic_sell_check_asset(*, exchange: Exchange, asset: str, amount: Decimal) -> str:
    """The asset code, normalized, once the account can trade it at all; DomainError otherwise."""
    asset = asset.strip().upper()
    if amount <= 0:
        raise DomainError(f"The amount to sell must be above zero, not {amount}.")
    if not Market.objects.filter(exchange=exchange, active=True).filter(Q(base=asset) | Q(quote=asset)).exists():
        raise DomainError(f"{exchange.name} has no market trading {asset}.")
    return asset


def panic_sell_start(
    *, exchange: Exchange, asset: str, amount: Decimal, requested_by: str, base_currencies: list[str] | None = None
) -> PanicSell:
    """Liquidate `amount` of `asset` held on the account (an operator's balance) to a base currency."""
    asset = panic_sell_check_asset(exchange=exchange, asset=asset, amount=amount)
    with transaction.atomic():
        panic = panic_sell_create(
            exchange=exchange, asset=asset, amount=amount, requested_by=requested_by,
            reason=f"requested by {requested_by}", base_currencies=base_currencies,
        )  # fmt: skip
    log.warning("panic sell %s of %s %s requested by %s", panic.pk, amount, asset, requested_by)
    return panic


def panic_sell_create(
    *, exchange: Exchange, asset: str, amount: Decimal, requested_by: str, reason: str, routing: dict | None = None,
    base_currencies: list[str] | None = None, **owner,
) -> PanicSell:  # fmt: skip
    """The row every panic sell starts from, advanced once the caller's transaction commits.

    `routing`: base_currencies, preferred_intermediaries, max_hops, max_total_slippage_bps (the defaults
    when absent); `base_currencies` overrides its own. `owner`: the foreign keys naming what it serves
    (`strategy`, `cycle`).
    """
    routing = dict(routing or default_routing())
    if base_currencies:
        routing["base_currencies"] = asset_codes(base_currencies, required=True)
    panic = PanicSell.objects.create(
        exchange=exchange, asset=asset, amount=amount, held_asset=asset, held_amount=amount,
        requested_by=requested_by, reason=reason[:200], **routing, **owner,
    )  # fmt: skip
    panic_sell_schedule(panic_sell_id=panic.pk)
    return panic


def panic_sell_schedule(*, panic_sell_id: int, countdown: float = 0.0) -> None:
    from .tasks import advance

    transaction.on_commit(lambda: advance.apply_async((panic_sell_id,), countdown=countdown))


def panic_sell_hop_ended(order: Order) -> None:
    """The orders hook (after commit): a hop ended, so the panic sell takes its next step now."""
    from .tasks import advance

    advance.apply_async((order.panic_sell_id,))


# --- advancing ----------------------------------------------------------------------------------
def panic_sell_advance(*, panic_sell_id: int, venue: Venue | None = None) -> str:
    """Account for the last hop, then route what is held again and place the next hop (one at a time)."""
    panic = PanicSell.objects.select_related("exchange", "strategy", "cycle").get(pk=panic_sell_id)
    if panic.state != PanicSellState.ACTIVE:
        return "done"
    hops = list(Order.objects.filter(panic_sell=panic).select_related("market").order_by("pk"))
    if hops and not hops[-1].is_terminal:
        return "waiting"
    if len(hops) > panic.hops_done:
        panic = _account(panic, hops[panic.hops_done :])
    if panic.held_asset in panic.base_currencies:
        return _finish(panic)
    succeeded = sum(1 for o in hops if o.filled > 0)
    failed = len(hops) - succeeded
    if succeeded >= panic.max_hops or failed >= settings.PANIC_MAX_FAILED_HOPS:
        return _fail(panic, f"still holding {panic.held_amount} {panic.held_asset} after {len(hops)} hops")
    venue = venue or get_venue(panic.exchange)
    router = venue_router(panic.exchange, venue)
    policy = route_policy(
        base_currencies=panic.base_currencies, max_hops=panic.max_hops - succeeded,
        preferred_intermediaries=panic.preferred_intermediaries,
        max_total_slippage_bps=panic.max_total_slippage_bps,
    )  # fmt: skip
    result = router.route(
        panic.held_asset, float(panic.held_amount), policy, volatility_bps=router.spread_bps(panic.held_asset)
    )
    if not result.ok and router.load_errors:  # books missing for a venue hiccup, not for want of a market
        log.warning("panic sell %s: books unavailable (%s); routing again shortly", panic.pk,
                    "; ".join(f"{s}: {e}" for s, e in router.load_errors.items()))  # fmt: skip
        panic_sell_schedule(panic_sell_id=panic.pk, countdown=1.0)
        return "retrying"
    if not result.ok:
        return _fail(panic, f"no route for {panic.held_amount} {panic.held_asset}: {result.reason}")
    hop = result.route.hops[0]
    market = Market.objects.get(exchange=panic.exchange, symbol=hop.symbol)
    if hop.side == "sell":
        amount = floor_to_step(panic.held_amount, market.amount_step)
    else:
        buffered = with_buy_buffer(Decimal(repr(hop.base_amount)), settings.CYCLE_BUY_BUFFER_BPS)
        amount = floor_to_step(buffered, market.amount_step)
    PanicSell.objects.filter(pk=panic.pk).update(
        expected_proceeds=Decimal(repr(result.route.proceeds)),
        expected_slippage_bps=Decimal(repr(round(result.route.slippage_bps, 2))), updated_at=timezone.now(),
    )  # fmt: skip
    if hops:
        failpoint("panic.between_hops")
    try:
        order = order_place(
            exchange=panic.exchange, market=market, side=hop.side, type="market", amount=amount,
            purpose=OrderPurpose.LIQUIDATION, role=OrderRole.HOP, intent=f"ps{panic.pk}-h{len(hops) + 1}",
            panic_sell=panic, cycle=panic.cycle, venue=venue,
            monitoring=monitoring_policy_of(panic.strategy or panic.exchange),
            guard=still_in_state(PanicSell, panic.pk, PanicSellState.ACTIVE),
        )  # fmt: skip
    except Conflict as exc:
        log.info("panic sell %s: hop not placed: %s", panic.pk, exc)
        return "superseded"
    except OrderRejected as exc:
        log.warning("panic sell %s: hop %s rejected: %s", panic.pk, len(hops) + 1, exc)
        panic_sell_schedule(panic_sell_id=panic.pk, countdown=min(30.0, exc.details.get("retry_after") or 0.5))
        return "retrying"
    if order.is_terminal:
        return panic_sell_advance(panic_sell_id=panic.pk, venue=venue)
    return "placed"


def _account(panic: PanicSell, orders: list[Order]) -> PanicSell:
    held_asset, held, residuals = panic.held_asset, panic.held_amount, panic.residuals
    for order in orders:
        if order.filled > 0:
            residuals = add_residual(residuals, held_asset, held - order.spent)
            held_asset, held = order.received_asset, order.received
    with transaction.atomic():
        locked = panic_sells_for_update().get(pk=panic.pk)
        if locked.hops_done != panic.hops_done:
            return locked  # another worker accounted for them first
        locked.held_asset, locked.held_amount, locked.residuals = held_asset, held, residuals
        locked.hops_done = panic.hops_done + len(orders)
        locked.save(update_fields=["held_asset", "held_amount", "residuals", "hops_done", "updated_at"])
        owner = _owner_of(locked)
        if owner is not None:
            owner.on_progress(locked)
    return locked


def _finish(panic: PanicSell) -> str:
    with transaction.atomic():
        panic, changed = transition_locked(
            panic_sells_for_update(), pk=panic.pk, to=PanicSellState.COMPLETED, finished_at=timezone.now()
        )
        owner = _owner_of(panic)
        if changed and owner is not None:
            owner.on_completed(panic)
    log.info("panic sell %s done: %s %s", panic.pk, panic.held_amount, panic.held_asset)
    return "completed"


def _fail(panic: PanicSell, why: str) -> str:
    with transaction.atomic():
        panic, changed = transition_locked(
            panic_sells_for_update(), pk=panic.pk, to=PanicSellState.FAILED, error=why, finished_at=timezone.now()
        )
        owner = _owner_of(panic)
        if changed and owner is not None:
            owner.on_failed(panic, why)
    log.error("panic sell %s failed: %s", panic.pk, why)
    return "failed"
