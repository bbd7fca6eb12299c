"""Opening a position: validate, record it and its ladder, place its entry, copy it to the mirror accounts."""

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.failpoints import failpoint
from exchanges.errors import EntriesHalted
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.venue import Venue
from orders.errors import OrderRejected
from orders.models import OrderPurpose, OrderRole
from orders.services import order_place

from . import events
from .models import Position, PositionEventKind, PositionPhase, PositionSource, TakeProfitLevel
from .rules import validate_new
from .services import position_check, position_transition, tiers

log = logging.getLogger(__name__)
K = PositionEventKind
P = PositionPhase


def position_open(
    *, exchange: Exchange, symbol: str, amount: Decimal, entry_type: str = "market", entry_price: Decimal | None = None,
    take_profits: list[tuple[Decimal, Decimal]] = (), stop_loss: Decimal | None = None,
    trailing_stop_bps: int | None = None, requested_by: str = "system", venue: Venue | None = None,
    venue_for=None, mirror_of: Position | None = None, source: str = PositionSource.MANUAL, copy_trade=None,
    created: Callable[[Position], None] | None = None, reference: Decimal | None = None,
) -> Position:  # fmt: skip
    """Validate, record the position and its ladder, then place its entry (outside the transaction).

    A market entry is validated against `reference`, the best ask the caller has just read, or the
    book's when none is given.

    `created(position)` runs in the transaction that records the position and may refuse it
    (raise): a copy claims its source fill there, so a fill is never copied twice.

    On a main account, each enabled mirror account then gets its own copy at its ratio (its own
    orders, watched on its own); a mirror that fails is recorded on the main position and never
    stops it.
    """
    venue_for = venue_for or get_venue
    halted_by = Exchange.objects.filter(pk=exchange.pk).values_list("entries_halted_by", flat=True).first()
    if halted_by:  # read now: the object handed in may predate the switch
        raise EntriesHalted(f"New entries are stopped on {exchange.name} (by {halted_by}).")
    market = Market.objects.filter(exchange=exchange, symbol=symbol.strip().upper(), active=True).first()
    if market is None:
        raise ValidationError({"symbol": f"{symbol} is not a trading market on {exchange.name}."})
    if entry_type not in ("market", "limit"):
        raise ValidationError({"entry_type": "must be market or limit"})
    if entry_type == "limit" and (entry_price is None or entry_price <= 0):
        raise ValidationError({"entry_price": "a limit entry needs a price above zero"})
    venue = venue or venue_for(exchange)
    if entry_type == "limit":
        reference = Decimal(entry_price)
    elif reference is None:
        asks = venue.fetch_order_book(market.symbol, 5).asks
        if not asks:
            raise ValidationError({"symbol": f"nobody sells {market.base} on {market.symbol} right now"})
        reference = asks[0][0]
    ladder = [(Decimal(p), Decimal(f)) for p, f in take_profits]
    errors = validate_new(market.info(), amount=Decimal(amount), reference=reference, take_profits=ladder,
                          stop_loss=None if stop_loss is None else Decimal(stop_loss),
                          trailing_stop_bps=trailing_stop_bps)  # fmt: skip
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    with transaction.atomic():
        position = Position.objects.create(
            exchange=exchange, market=market, amount=amount, stop_loss=stop_loss, trailing_stop_bps=trailing_stop_bps,
            next_check_at=now + timedelta(seconds=tiers().critical_s), last_activity_at=now, mirror_of=mirror_of,
            source=source,
        )  # fmt: skip
        TakeProfitLevel.objects.bulk_create(
            [TakeProfitLevel(position=position, index=i, price=p, fraction=f) for i, (p, f) in enumerate(ladder, 1)]
        )
        events.record(position.pk, K.MONITOR_CREATED, {
            "requested_by": requested_by, "symbol": market.symbol, "amount": str(amount), "entry_type": entry_type,
            "take_profits": [[str(p), str(f)] for p, f in ladder], "stop_loss": str(stop_loss) if stop_loss else None,
        })  # fmt: skip
        if created is not None:
            created(position)
    failpoint("position.before_entry")
    try:
        order_place(
            exchange=exchange, market=market, side="buy", type=entry_type, amount=Decimal(amount), price=entry_price,
            purpose=OrderPurpose.POSITION, role=OrderRole.ENTRY, intent=f"p{position.pk}-entry", position=position,
            venue=venue,
            copy_trade=copy_trade,
        )  # fmt: skip
    except OrderRejected as exc:
        position_transition(position_id=position.pk, to=P.CLOSED)
        events.record(position.pk, K.POSITION_CLOSED, {"reason": f"entry not placed: {exc}"})
        raise
    position_check(position_id=position.pk, venue=venue)
    position.refresh_from_db()
    if mirror_of is None:
        for mirror in exchange.mirrors.filter(enabled=True):
            terms = {"entry_type": entry_type, "entry_price": entry_price, "take_profits": ladder,
                     "stop_loss": stop_loss, "trailing_stop_bps": trailing_stop_bps}  # fmt: skip
            _mirror_open(position, mirror, Decimal(amount), venue_for=venue_for, **terms)
    return position


def _mirror_open(main: Position, mirror: Exchange, requested: Decimal, *, venue_for, **terms) -> Position | None:
    """The main position (its requested amount) copied to a mirror account at its ratio; a failure is only recorded."""
    market = main.market
    amount = floor_to_step(requested * mirror.mirror_ratio, market.amount_step)
    try:
        copy = position_open(exchange=mirror, symbol=market.symbol, amount=amount, requested_by=f"mirror of {main.pk}",
                             mirror_of=main, venue=venue_for(mirror), venue_for=venue_for, **terms)  # fmt: skip
    except Exception as exc:
        log.warning("position %s: mirror on %s not opened: %s", main.pk, mirror.name, exc)
        events.buffer(main.pk, K.POSITION_UPDATE, {"mirror": mirror.name, "error": str(exc)[:300]})
        return None
    events.buffer(main.pk, K.POSITION_UPDATE, {"mirror": mirror.name, "position": copy.pk, "amount": str(amount)})
    return copy
