"""A failed cycle's panic sell: started by an operator, followed through the liquidation app's owner hooks;
and the orders hook that wakes a cycle when a leg ends."""

import logging
from decimal import Decimal

from django.db import transaction

from core.errors import Conflict
from liquidation.conversion import add_residual
from liquidation.models import PanicSell, PanicSellState
from liquidation.services import PanicOwner, panic_sell_check_asset, panic_sell_create
from orders.models import Order, OrderRole

from .locks import cycles_for_update
from .models import Cycle, CycleState
from .services import cycle_transition, leg_intent

log = logging.getLogger(__name__)


# --- its panic sell --------------------------------------------------------------------------
def cycle_panic_sell(*, cycle: Cycle, requested_by: str) -> PanicSell:
    """Liquidate what a FAILED cycle still holds (an operator asks), with its strategy's routing."""
    strategy = cycle.strategy
    asset = panic_sell_check_asset(exchange=strategy.exchange, asset=cycle.held_asset, amount=cycle.held_amount)
    with transaction.atomic():
        cycle = cycles_for_update().get(pk=cycle.pk)
        if cycle.panic_sells.filter(state=PanicSellState.ACTIVE).exists():
            raise Conflict(f"Cycle {cycle.pk} is already being liquidated.")
        if cycle.state == CycleState.FAILED:
            cycle_transition(cycle_id=cycle.pk, to=CycleState.LIQUIDATING, error=f"panic sell by {requested_by}")
        elif cycle.state != CycleState.LIQUIDATING:
            raise Conflict(
                f"Cycle {cycle.pk} is {cycle.state}; a panic sell takes a FAILED cycle (an executing one "
                "liquidates by itself when a leg fails)."
            )
        panic = panic_sell_create(
            exchange=strategy.exchange, asset=asset, amount=cycle.held_amount, requested_by=requested_by,
            reason=f"requested by {requested_by}", routing=strategy.panic_routing(), strategy=strategy, cycle=cycle,
        )  # fmt: skip
    log.warning("panic sell %s of cycle %s (%s %s) requested by %s", panic.pk, cycle.pk, cycle.held_amount, asset,
                requested_by)  # fmt: skip
    return panic


def _liquidation_progressed(panic: PanicSell) -> None:
    Cycle.objects.filter(pk=panic.cycle_id).update(held_asset=panic.held_asset, held_amount=panic.held_amount)


def _liquidation_completed(panic: PanicSell) -> None:
    """The cycle is LIQUIDATED with what its panic sell ended holding (its PnL when that is the start asset)."""
    cycle = Cycle.objects.get(pk=panic.cycle_id)
    first_leg = Order.objects.filter(cycle_id=cycle.pk, role=OrderRole.LEG, intent=leg_intent(cycle.pk, 0))
    spent = sum((o.spent for o in first_leg.select_related("market")), Decimal(0))
    same = panic.held_asset == cycle.start_asset
    residuals = cycle.residuals
    for asset, amount in panic.residuals.items():
        residuals = add_residual(residuals, asset, Decimal(amount))
    cycle_transition(
        cycle_id=cycle.pk, to=CycleState.LIQUIDATED, end_amount=panic.held_amount,
        realized_pnl=panic.held_amount - spent if same else None, held_asset=panic.held_asset,
        held_amount=Decimal(0), residuals=residuals,
    )  # fmt: skip


def _liquidation_failed(panic: PanicSell, why: str) -> None:
    cycle_transition(cycle_id=panic.cycle_id, to=CycleState.FAILED, error=why)


LIQUIDATION_OWNER = PanicOwner(
    field="cycle", on_progress=_liquidation_progressed, on_completed=_liquidation_completed,
    on_failed=_liquidation_failed,
)  # fmt: skip


def cycle_order_ended(order: Order) -> None:
    """The orders hook (after commit): a leg ended, so the cycle takes its next step now."""
    from .tasks import execute

    execute.apply_async((order.cycle_id,))
