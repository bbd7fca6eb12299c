"""A managed position on the paper venue along a price path: entry, TP1, breakeven, stop at breakeven."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from exchanges.models import PaperBalance
from orders.models import Order
from positions import events
from positions.models import Position, PositionEvent, PositionPhase, TakeProfitStatus
from positions.monitor import positions_monitor_tick
from positions.opening import position_open
from positions.services import position_check
from tests.conftest import ladder

D = Decimal
pytestmark = pytest.mark.django_db


def price(books, bid: str) -> None:
    """The BTCUSDT market moves: best bid at `bid`, a cent of spread, a deep ladder."""
    ask = str(D(bid) + D("0.01"))
    books.set_book(ladder("BTCUSDT", bid, ask, "1.00", sizes=("5", "5", "5", "5", "5")))


def critical_kinds(position) -> list[str]:
    return list(position.events.filter(critical=True).order_by("id").values_list("kind", flat=True))


def test_tp1_then_breakeven_then_the_stop_at_breakeven(paper, books, venue):
    price(books, "60000.00")
    position = position_open(
        exchange=paper.exchange, symbol="btcusdt", amount=D("0.1"), take_profits=[(D("61000"), D("0.5")),
        (D("62000"), D("0.5"))], stop_loss=D("58000"), venue=venue,
    )  # fmt: skip
    assert position.phase == PositionPhase.MONITORING
    assert position.entry_price == D("60000.01")
    assert position.remaining == D("0.0999")  # the entry's fee was taken in BTC
    assert position.tier == "standard"

    price(books, "60500.00")
    assert position_check(position_id=position.pk, price=D("60500.00"), venue=venue) == "watching"
    price(books, "61000.00")
    outcome = position_check(position_id=position.pk, price=D("61000.00"), venue=venue)
    assert outcome == "TP1 at 61000.00"
    position.refresh_from_db()
    assert position.phase == PositionPhase.PROFIT_TAKING
    assert position.take_profits.get(index=1).status == TakeProfitStatus.FILLED
    assert position.remaining == D("0.04995")  # half of what the entry delivered
    # The stop moved to breakeven: entry plus both fees, up to the tick.
    assert position.breakeven_moved
    assert position.stop_loss == D("60120.14")
    assert position.tier == "critical"  # breakeven just moved

    price(books, "60100.00")  # back through breakeven: the stop sells the rest
    assert position_check(position_id=position.pk, price=D("60100.00"), venue=venue).startswith("stop")
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    assert position.remaining == 0
    assert position.next_check_at is None
    assert critical_kinds(position) == ["monitor_created", "tp_hit", "breakeven_moved", "sl_hit", "position_closed"]
    intents = list(Order.objects.filter(position=position).order_by("pk").values_list("intent", flat=True))
    assert intents == [f"p{position.pk}-entry", f"p{position.pk}-tp1", f"p{position.pk}-sl"]
    # Realized PnL is what the ledger shows: USDT back minus USDT spent on what was sold.
    usdt = PaperBalance.objects.get(exchange=paper.exchange, asset="USDT")
    entry = Order.objects.get(intent=f"p{position.pk}-entry")
    sold = sum(o.filled for o in Order.objects.filter(position=position, side="sell"))
    received = sum(o.cost - o.fee for o in Order.objects.filter(position=position, side="sell"))
    assert usdt.free == D("100000") - entry.cost + received
    assert sold == entry.filled - entry.fee  # everything the entry delivered was sold
    # Realized PnL counts every fee: exactly the USDT the round trip made on the venue's ledger.
    assert position.realized_pnl == usdt.free - D("100000")
    assert D("40") < position.realized_pnl < D("45")  # TP1 about 44 USDT, the exit under breakeven about -1


def test_the_monitor_tick_prices_every_due_position_with_one_tickers_call(paper, books, venue):
    price(books, "60000.00")
    positions = [
        position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"),
                      take_profits=[(D("61000"), D("1"))], stop_loss=D("59000"), venue=venue)
        for _ in range(5)
    ]  # fmt: skip
    Position.objects.update(next_check_at=Position.objects.first().created_at)  # all due
    venue.calls.clear()
    price(books, "61000.00")
    result = positions_monitor_tick(venue_for=lambda exchange: venue)
    assert (result.claimed, result.evaluated) == (5, 5)
    assert venue.calls["fetch_tickers"] == 1
    assert venue.calls["fetch_order_book"] == 0  # the tickers gave every price
    for position in positions:
        position.refresh_from_db()
        assert position.phase == PositionPhase.CLOSED  # the only TP took the whole position
    assert positions_monitor_tick(venue_for=lambda exchange: venue).claimed == 0


def test_a_trailing_stop_follows_the_price_up_never_down(paper, books, venue):
    price(books, "60000.00")
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"), stop_loss=D("57000"),
                             trailing_stop_bps=200, venue=venue)  # fmt: skip
    for bid, stop in (("61000.00", "59780.00"), ("60500.00", "59780.00"), ("62000.00", "60760.00")):
        price(books, bid)
        position_check(position_id=position.pk, price=D(bid), venue=venue)
        position.refresh_from_db()
        assert position.stop_loss == D(stop), bid
    price(books, "60700.00")
    position_check(position_id=position.pk, price=D("60700.00"), venue=venue)
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    assert critical_kinds(position)[-2:] == ["sl_hit", "position_closed"]


def test_non_critical_events_wait_for_the_flush_or_the_next_critical_event(paper, books, venue):
    price(books, "60000.00")
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"),
                             take_profits=[(D("61000"), D("0.5")), (D("63000"), D("0.5"))], venue=venue)  # fmt: skip
    for bid in ("60100.00", "60200.00", "60300.00"):
        position_check(position_id=position.pk, price=D(bid), venue=venue)
    kinds = list(position.events.values_list("kind", flat=True))
    assert "monitoring_update" not in kinds  # buffered, not written yet
    price(books, "61000.00")
    position_check(position_id=position.pk, price=D("61000.00"), venue=venue)  # TP1: critical, flushes first
    timeline = list(position.events.order_by("id").values_list("kind", flat=True))
    assert timeline.count("monitoring_update") == 3
    assert timeline.index("tp_hit") > max(i for i, k in enumerate(timeline) if k == "monitoring_update")
    position_check(position_id=position.pk, price=D("61100.00"), venue=venue)
    before = position.events.count()
    assert events.flush() >= 1
    assert position.events.count() > before


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"amount": D("0.0000001")}, "amount", "minimum"),
        ({"amount": D("0.0001")}, "amount", "minimum order"),
        ({"take_profits": [(D("59000"), D("0.5"))]}, "take_profits", "not above the entry"),
        ({"take_profits": [(D("61000"), D("0.7")), (D("62000"), D("0.6"))]}, "take_profits", "over 100%"),
        ({"take_profits": [(D("62000"), D("0.5")), (D("61000"), D("0.5"))]}, "take_profits", "lowest price"),
        ({"stop_loss": D("60500")}, "stop_loss", "not under the entry"),
        ({"symbol": "DOGEUSDT"}, "symbol", "not a trading market"),
        ({"entry_type": "limit"}, "entry_price", "needs a price"),
        ({"trailing_stop_bps": 0}, "trailing_stop_bps", "from 1 to 5000"),
    ],
)
def test_validation_errors_name_the_field_and_the_fix(paper, books, venue, kwargs, field, words):
    price(books, "60000.00")
    args = {"exchange": paper.exchange, "symbol": "BTCUSDT", "amount": D("0.01"),
            "take_profits": [(D("61000"), D("1"))], "stop_loss": D("59000"), "venue": venue} | kwargs  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        position_open(**args)
    assert words in " ".join(caught.value.message_dict[field])
    assert not Position.objects.exists()
    assert not PositionEvent.objects.exists()


def test_quiet_positions_are_rescheduled_by_tier_and_marked_through_the_buffer(paper, books, venue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.writebehind import writebehind_flush

    price(books, "60000.00")
    positions = [
        position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"),
                      take_profits=[(D(tp), D("1"))], stop_loss=D("55000"), venue=venue)
        for tp in ("63000", "60100")  # the second is 17 bps away: critical
    ]  # fmt: skip
    Position.objects.update(next_check_at=Position.objects.first().created_at)
    with CaptureQueriesContext(connection) as queries:
        result = positions_monitor_tick(venue_for=lambda exchange: venue)
    assert (result.evaluated, result.outcomes) == (2, {"watching": 2})
    writes = [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert writes == []  # no write per position: one bulk reschedule (straight to psycopg), the marks buffered
    far, near = (Position.objects.get(pk=p.pk) for p in positions)
    assert (far.tier, near.tier) == ("standard", "critical")
    assert 11 < (far.next_check_at - near.next_check_at).total_seconds() + 2 < 13
    assert far.mark_price is None  # not written yet
    writebehind_flush()
    far.refresh_from_db()
    assert far.mark_price == D("60000.00")
    assert far.unrealized_pnl < 0  # fees and the spread paid, price unchanged


class Crash(BaseException):
    """The worker dies here."""


@pytest.mark.parametrize("where", ["after the TP order filled", "while recording the TP"])
def test_no_critical_event_is_lost_when_the_worker_dies_mid_check(paper, books, venue, monkeypatch, where):
    import positions.services as services

    price(books, "60000.00")
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.1"), venue=venue,
                             take_profits=[(D("61000"), D("0.5")), (D("62000"), D("0.5"))])  # fmt: skip
    price(books, "61000.00")
    if where == "after the TP order filled":  # the sell is filled on the venue and recorded; the rest never runs
        place = services.order_place

        def placed_then_dead(**kwargs):
            place(**kwargs)
            raise Crash()

        monkeypatch.setattr(services, "order_place", placed_then_dead)
    else:  # dies inside the transaction that marks the level FILLED: it rolls back, the event with it
        original = services.events.record

        def dying(position_id, kind, payload=None):
            if kind == "tp_hit":
                raise Crash()
            return original(position_id, kind, payload)

        monkeypatch.setattr(services.events, "record", dying)
    with pytest.raises(Crash):
        position_check(position_id=position.pk, price=D("61000.00"), venue=venue)
    monkeypatch.undo()
    assert Order.objects.get(intent=f"p{position.pk}-tp1").status == "FILLED"  # the venue sold it
    # The restarted worker's next check accounts for it: one tp_hit, one breakeven move, nothing twice.
    position_check(position_id=position.pk, price=D("61000.00"), venue=venue)
    position_check(position_id=position.pk, price=D("61000.00"), venue=venue)
    position.refresh_from_db()
    assert critical_kinds(position) == ["monitor_created", "tp_hit", "breakeven_moved"]
    assert position.take_profits.get(index=1).status == TakeProfitStatus.FILLED
    assert position.remaining == D("0.04995")
    assert Order.objects.filter(position=position, side="sell").count() == 1


def test_the_events_buffer_is_counted_in_cache_stats(paper, books, venue, api):
    price(books, "60000.00")
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"),
                             take_profits=[(D("63000"), D("1"))], venue=venue)  # fmt: skip
    position_check(position_id=position.pk, price=D("60100.00"), venue=venue)
    events.flush()
    body = api.get("/api/cache-stats/").json()["position_events"]
    assert body["buffered"] >= 1
    assert body["flushed"] >= 1
    assert body["written_now"] >= 1  # monitor_created


def test_the_lifecycle_along_a_recorded_price_path(paper, books, venue, shared_data):
    """Real BTCUSDT books (2024-08-08, six minutes): TP1, the stop to breakeven, then TP2 or the stop."""
    from exchanges.binance_format import replay_recording
    from exchanges.models import Market

    Market.objects.filter(exchange=paper.exchange, symbol="BTCUSDT").update(taker_fee=0)  # breakeven = entry
    path = [book for i, (_, book) in enumerate(
        replay_recording(shared_data / "binance" / "depth" / "btcusdt_20240808.gz", 20)) if i % 5 == 0]  # fmt: skip
    books.set_book(path[0])
    entry = path[0].asks[0][0]
    tp1, tp2, stop = entry + 8, entry + 18, entry - 150
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.2"), venue=venue,
                             take_profits=[(tp1, D("0.5")), (tp2, D("0.5"))], stop_loss=stop)  # fmt: skip
    assert position.entry_price == entry
    # What the path implies, worked out apart from the platform: the first bid at or over TP1; then the stop
    # sits at the entry; then whichever comes first, a bid at or over TP2 or a bid at or under the entry.
    expected, stage = ["monitor_created"], "tp1"
    for book in path[1:]:
        bid = book.bids[0][0]
        if stage == "tp1" and bid <= stop:
            expected += ["sl_hit", "position_closed"]
            break
        if stage == "tp1" and bid >= tp1:
            expected += ["tp_hit", "breakeven_moved"]
            stage = "after"
        elif stage == "after" and bid >= tp2:
            expected += ["tp_hit", "position_closed"]
            break
        elif stage == "after" and bid <= entry:
            expected += ["sl_hit", "position_closed"]
            break
    for book in path[1:]:
        books.set_book(book)
        position_check(position_id=position.pk, price=book.bids[0][0], venue=venue)
        position.refresh_from_db()
        if position.phase == PositionPhase.CLOSED:
            break
    assert len(expected) >= 3, "the recorded path crosses TP1"
    assert critical_kinds(position) == expected


def test_the_tick_takes_up_an_exit_sold_but_never_accounted(paper, books, venue, monkeypatch):
    import positions.services as services

    price(books, "60000.00")
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.1"), venue=venue,
                             take_profits=[(D("61000"), D("0.5")), (D("65000"), D("0.5"))])  # fmt: skip
    price(books, "61000.00")
    place = services.order_place

    def placed_then_dead(**kwargs):
        place(**kwargs)
        raise Crash()

    monkeypatch.setattr(services, "order_place", placed_then_dead)
    with pytest.raises(Crash):
        position_check(position_id=position.pk, price=D("61000.00"), venue=venue)
    monkeypatch.undo()
    price(books, "60500.00")  # the price has moved off TP1: only the unaccounted sale makes it act
    Position.objects.filter(pk=position.pk).update(next_check_at=position.created_at)
    positions_monitor_tick(venue_for=lambda exchange: venue)
    assert critical_kinds(position) == ["monitor_created", "tp_hit", "breakeven_moved"]
