"""The scanner: updates re-scored, a mispricing becomes a reserved, depth-checked cycle."""

import json
import threading
import time
from decimal import Decimal

from cycles.models import Cycle, Reservation
from cycles.scanner import Scanner, scanner_stats
from exchanges.marketdata import MarketDataSnapshot, now_ms
from tests.conftest import ladder

D = Decimal


def _publish(snapshot, books, symbols=("BTCUSDT", "ETHBTC", "ETHUSDT")):
    stamp = now_ms()
    snapshot.put_tickers([t.__class__(t.symbol, t.bid, t.bid_size, t.ask, t.ask_size, stamp)
                          for t in books.tickers(list(symbols)).values()])  # fmt: skip


def test_a_mispricing_becomes_one_cycle_on_a_reserved_slot(paper, strategy, books, monkeypatch):
    monkeypatch.setattr("cycles.scanner.cycle_place_first_leg", lambda **kw: "left to the worker")  # it stays open
    strategy.max_open_cycles = 1
    strategy.save(update_fields=["max_open_cycles"])
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    _publish(snapshot, books)
    assert scanner.scan_once() == []  # a coherent market: every triangle loses its three fees
    assert scanner.scan_once() == []  # nothing changed: nothing re-scored
    assert scanner.stats.updates == 3

    books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("10", "20", "30")))
    _publish(snapshot, books, ["ETHUSDT"])
    opened = scanner.scan_once()
    assert len(opened) == 1
    cycle = Cycle.objects.get(pk=opened[0])
    assert [(leg.market.symbol, leg.side) for leg in cycle.legs.order_by("index")] == [
        ("ETHUSDT", "buy"), ("ETHBTC", "sell"), ("BTCUSDT", "sell"),
    ]  # fmt: skip
    assert cycle.expected_net_rate > D("1.001")
    assert cycle.start_amount <= strategy.trade_amount
    assert cycle.reservation.consumed_at is not None

    _publish(snapshot, books, ["ETHUSDT"])  # still mispriced, but the only slot is taken
    assert scanner.scan_once() == []
    assert scanner.stats.limited >= 1
    assert Reservation.objects.filter(consumed_at__isnull=True).count() == 0


def test_stale_books_are_not_traded(paper, strategy, books):
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("10", "20", "30")))
    old = now_ms() - 60_000
    snapshot.put_tickers([t.__class__(t.symbol, t.bid, t.bid_size, t.ask, t.ask_size, old)
                          for t in books.tickers().values()])  # fmt: skip
    assert scanner.scan_once() == []
    assert scanner.stats.stale >= 1
    assert not Reservation.objects.exists()


def test_a_thin_book_fails_the_depth_walk_and_takes_no_slot(paper, strategy, books):
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("0.001",)))  # 3 USDT of ETH on offer
    _publish(snapshot, books)
    assert scanner.scan_once() == []
    assert scanner.stats.walked_out >= 1
    assert not Reservation.objects.exists()
    assert not Cycle.objects.exists()


def test_the_scanner_acts_on_a_tick_as_it_is_published_not_on_its_timer(paper, strategy, books):
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    _publish(snapshot, books)

    def mispriced_tick():
        books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("10", "20", "30")))
        _publish(snapshot, books, ["ETHUSDT"])

    threading.Timer(0.2, mispriced_tick).start()
    started = time.monotonic()
    stats = scanner.run(interval=30.0, passes=2)  # the timer alone would wait 30 s before the second pass
    assert time.monotonic() - started < 10
    assert len(stats.cycles) == 1


def test_why_nothing_traded_is_counted_and_shown_to_the_operator(paper, strategy, books, client, operator):
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("0.001",)))  # 3 USDT of ETH on offer
    _publish(snapshot, books)
    assert scanner.scan_once() == []
    assert {"BTCUSDT", "ETHBTC", "ETHUSDT"} <= snapshot.wanted_books()  # a real venue's feed keeps these books
    scanner.publish_stats()
    scanner.publish_stats()  # what was published already is not added twice
    counts = scanner_stats()[paper.exchange.name]
    assert counts["passes"] == 1
    assert counts["candidates"] >= 1
    assert counts.get("refused_under_minimum", 0) + counts.get("refused_thin_book", 0) == counts["candidates"], counts
    client.force_login(operator)
    assert client.get("/api/cache-stats/").json()["scanner"][paper.exchange.name] == counts
    assert 'hx-get="/dashboard/part/figures/"' in client.get("/dashboard/").content.decode()
    page = client.get("/dashboard/part/figures/").content.decode()  # the scanner's table, loaded after the page
    assert f"<td>{paper.exchange.name}</td><td>1</td>" in page
    assert "thin_book 1" in page or "under_minimum 1" in page


def test_the_scanner_places_leg_one_itself_and_says_where_the_time_went(paper, strategy, books, monkeypatch, settings):
    settings.SCANNER_PLACES_FIRST_LEG = True
    from cycles.scanner import TIMINGS_KEY
    from orders.models import Order

    queued = []
    monkeypatch.setattr("cycles.services.cycle_execute_schedule",
                        lambda *, cycle_id, countdown=0.0: queued.append((cycle_id, countdown)))  # fmt: skip
    scanner = _mispriced(paper, books)
    [cycle_id] = scanner.scan_once()
    orders = Order.objects.filter(cycle_id=cycle_id).order_by("id")
    assert orders.count() == 1  # leg 1 only: the worker takes the next legs (queued by the order-ended hook)
    first = orders.first()
    assert first.market.symbol == "ETHUSDT"
    assert first.role == "leg"
    assert queued[0] == (cycle_id, 2.0)  # the worker's safety net, later
    timing = json.loads(scanner.snapshot.r.lindex(f"{TIMINGS_KEY}:{paper.exchange.name}", 0))
    marks = [timing[m] for m in ("picked_up", "scored", "books", "walked", "reserved", "created", "sent")]
    assert timing["cycle"] == cycle_id
    assert marks == sorted(marks)


def _mispriced(paper, books):
    snapshot = MarketDataSnapshot(paper.exchange.name)
    scanner = Scanner(paper.exchange, venue=paper, snapshot=snapshot)
    _publish(snapshot, books)
    scanner.scan_once()
    books.set_book(ladder("ETHUSDT", "2949.00", "2950.00", "0.50", sizes=("10", "20", "30")))
    _publish(snapshot, books, ["ETHUSDT"])
    return scanner


def test_a_book_the_feed_lacks_is_asked_of_the_venue_only_once_the_slot_is_held(paper, strategy, books, monkeypatch):
    monkeypatch.setattr("cycles.scanner.cycle_place_first_leg", lambda **kw: "left to the worker")
    feed_books = paper.feed_books
    monkeypatch.setattr(paper, "feed_books", lambda symbols, depth=20: {
        s: b for s, b in feed_books(symbols, depth).items() if s != "ETHBTC"})  # fmt: skip
    asked = []
    fetch = paper.fetch_order_book

    def over_rest(symbol, depth=20):
        asked.append((symbol, Reservation.objects.filter(consumed_at__isnull=True).count()))
        return fetch(symbol, depth)

    monkeypatch.setattr(paper, "fetch_order_book", over_rest)
    scanner = _mispriced(paper, books)
    assert len(scanner.scan_once()) == 1
    assert asked == [("ETHBTC", 1)]  # asked with the slot held, and only for the book the feed lacked


def test_books_that_cannot_be_had_refuse_the_candidate_and_give_its_slot_back(paper, strategy, books, monkeypatch):
    from exchanges.errors import VenueUnavailable

    monkeypatch.setattr(paper, "feed_books", lambda symbols, depth=20: {})

    def down(symbol, depth=20):
        raise VenueUnavailable("HTTP 503")

    monkeypatch.setattr(paper, "fetch_order_book", down)
    scanner = _mispriced(paper, books)
    assert scanner.scan_once() == []
    assert scanner.stats.refusals["books_unavailable"] >= 1
    assert not Reservation.objects.exists()
