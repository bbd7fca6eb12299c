"""Market-data feed figures: the Binance feed (exchanges/feeds/binance.py) against the Binance emulator of
bench/binance_emulator.py on 127.0.0.1, replaying ../shared/data/binance/depth/*.gz. One JSON object last.

feed_msgs_per_s
    bookTicker messages parsed and written to the Redis snapshot per second by the feed (this process), the
    emulator (a process of its own) sending the recorded messages spread over --symbols symbols as fast as it
    can, for --seconds.
feed_msg_to_snapshot_ms_p99 (and _p50)
    At --rate messages a second: from the message handed to the feed by the websocket to the batch holding it
    written to Redis (every 10th message timed).
feed_book_mismatches
    Both recordings played through the feed's book-keeping (buffer, snapshot, sequence rules) and, apart,
    through the emulator's plain replay of the same file: after every update the two books compared level
    by level (the whole book, not the top).
fill_push_to_record_ms_p95 (and _p50)
    A Binance account on the emulator (its trading side, bench/binance_account.py) with its user stream
    (orders/user_stream.py) running in this process: --fills limit orders placed through order_place, then
    taken one by one by a counterparty; from the emulator sending each TRADE executionReport to the fill's
    row committed by the stream. `fill_polls` counts the order lookups (GET /api/v3/order) meanwhile: 0 when
    the pushes alone ended the orders.
feed_gap_resyncs, feed_stale_books_served
    The recordings replayed over the websocket at --fault-speed times their pace while the emulator skips
    sequence numbers and drops every connection: resyncs the feed made, and stored books a reader found
    that differ from the venue's book at the update they claim (read every 2 ms).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

from bench.binance_emulator import BinanceEmulator, Recording, TruthBook, synthetic_symbol
from core.redis_client import redis_client
from exchanges.local_book import DiffEvent, LocalBook
from exchanges.marketdata import MarketDataSnapshot
from feeds.binance import BinanceFeed

ROOT = Path(__file__).resolve().parent.parent


def _recordings() -> list[Path]:
    return sorted((settings.SHARED_DATA_DIR / "binance" / "depth").glob("*.gz"))


def _rest(url: str):
    """The feed's REST client of a Binance account pointed at the emulator."""
    from exchanges.models import Exchange
    from feeds.selection import rest_client

    return rest_client(Exchange(ccxt_id="binance", rest_url=url))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3) if ordered else float("nan")


def _emulator_process(*args: str) -> tuple[subprocess.Popen, dict]:
    command = [sys.executable, "-m", "bench.binance_emulator", "--loop", *args, *map(str, _recordings())]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    urls = json.loads(proc.stdout.readline())
    return proc, urls


def feed_over_emulator(*, symbols: int, seconds: float, rate: float | None, sample_every: int = 0) -> dict:
    args = ["--speed", "0", "--symbols", str(symbols), "--seconds", str(seconds)]
    if rate:
        args += ["--rate", str(rate)]
    proc, urls = _emulator_process(*args)
    snapshot = MarketDataSnapshot("bench-feed")
    snapshot.clear()
    tickers = [synthetic_symbol(i) for i in range(symbols)]

    async def main():
        rest = _rest(urls["rest"])
        feed = BinanceFeed(snapshot=snapshot, ws_base=urls["ws"], rest=rest, tickers=tickers,
                           sample_latency_every=sample_every)  # fmt: skip
        run = asyncio.create_task(feed.run())
        first = last = None
        seen = 0
        while proc.poll() is None:
            await asyncio.sleep(0.05)
            if feed.stats.ticker_updates and first is None:
                first, seen = time.perf_counter(), feed.stats.ticker_updates
            if first is not None and feed.stats.ticker_updates > seen:
                last = time.perf_counter()
        feed.stop()
        stats = await run
        await rest.close()
        return stats, first, last, seen

    stats, first, last, seen = asyncio.run(main())
    proc.wait(10)
    elapsed = (last or 0) - (first or 0)
    stored = len(snapshot.tickers())
    snapshot.clear()
    return {"messages": stats.ticker_updates, "per_s": (stats.ticker_updates - seen) / elapsed if elapsed else 0.0,
            "latencies": stats.latencies_ms, "stored_tickers": stored, "writes": stats.writes}  # fmt: skip


def book_mismatches() -> tuple[int, int]:
    """(mismatches, updates compared) over both recordings: the feed's LocalBook against TruthBook."""
    mismatches = compared = 0
    for path in _recordings():
        recording = Recording.load(path)
        truth = TruthBook(recording.snapshot)
        book = LocalBook(recording.symbol)
        pending_snapshot = True
        for _, stream, body in recording.messages:
            if "@depth" not in stream:
                continue
            data = json.loads(body)["data"]
            state = book.on_event(DiffEvent(data["U"], data["u"], data["b"], data["a"]))
            if pending_snapshot:  # the feed asks for the snapshot on the first event, as run_feed does
                state = book.on_snapshot(int(recording.snapshot["lastUpdateId"]), recording.snapshot["bids"],
                                         recording.snapshot["asks"])  # fmt: skip
                pending_snapshot = not state.synced
            if truth.apply(data) and book.synced:
                compared += 1
                if book.bids != truth.bids or book.asks != truth.asks or book.update_id != truth.update_id:
                    mismatches += 1
    return mismatches, compared


def faults(*, speed: float) -> dict:
    emulator = BinanceEmulator(_recordings(), speed=speed, keep_tops=20)
    snapshot = MarketDataSnapshot("bench-feed-faults")
    snapshot.clear()
    symbols = sorted(emulator.recordings)
    served, wrong, stop = [0], [], threading.Event()

    def reader() -> None:
        r = redis_client()
        while not stop.is_set():
            for symbol in symbols:
                raw = r.get(f"md:bench-feed-faults:book:{symbol}")
                if raw is None:
                    continue
                body = json.loads(raw)
                truth = emulator.tops[symbol].get(body["u"])
                served[0] += 1
                if truth is None or [body["b"], body["a"]] != [truth[0], truth[1]]:
                    wrong.append((symbol, body["u"]))
            time.sleep(0.002)

    def injector() -> None:
        while not emulator.finished.is_set():
            time.sleep(1.0)
            for symbol in symbols:
                emulator.skip_next(symbol)
            time.sleep(1.5)
            emulator.drop_connections()

    async def main():
        rest = _rest(emulator.rest_url)
        feed = BinanceFeed(snapshot=snapshot, ws_base=emulator.ws_url, rest=rest, tickers=symbols, books=symbols)
        run = asyncio.create_task(feed.run())
        play = emulator.play_in_background()
        while not play.done():
            await asyncio.sleep(0.05)
        feed.stop()
        stats = await run
        await rest.close()
        return stats

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=injector, daemon=True)]
    for t in threads:
        t.start()
    try:
        stats = asyncio.run(main())
    finally:
        stop.set()
        emulator.close()
        snapshot.clear()
    return {"resyncs": stats.resyncs, "reconnects": stats.reconnects, "skipped": emulator.skipped,
            "served": served[0], "wrong": len(wrong), "snapshots": stats.snapshots}  # fmt: skip


def pushed_fills(*, fills: int) -> dict:
    from decimal import Decimal

    from exchanges.models import Exchange, ExchangeKind
    from exchanges.registry import get_venue
    from exchanges.services import markets_sync
    from orders.models import Order, OrderStatus
    from orders.pushed import fills_pushed
    from orders.services import order_place
    from orders.user_stream import UserStream

    from .common import wait_until

    key, secret = "bench" * 12 + "keys", "bench" * 12 + "sec!"
    info = settings.SHARED_DATA_DIR / "binance" / "exchange_info_2023-09-08.json"
    balances = {"USDT": "10000000"}
    emulator = BinanceEmulator(_recordings(), exchange_info=info,
                               account={"api_key": key, "secret": secret, "balances": balances})  # fmt: skip
    try:
        account = Exchange(name=f"bench-binance-{int(time.time())}", kind=ExchangeKind.CCXT, ccxt_id="binance",
                           rest_url=emulator.rest_url, ws_url=emulator.ws_url)  # fmt: skip
        account.api_key, account.api_secret = key, secret
        account.save()
        markets_sync(exchange=account, markets=get_venue(account).load_markets())
        btc = account.markets.get(symbol="BTCUSDT")
        stream, loop = UserStream(Exchange.objects.get(pk=account.pk)), asyncio.new_event_loop()
        thread = threading.Thread(target=lambda: loop.run_until_complete(stream.run()), daemon=True)
        thread.start()
        assert wait_until(lambda: fills_pushed(account.pk), timeout=30), "the user stream did not subscribe"
        placed = [order_place(exchange=account, market=btc, side="buy", type="limit", amount=Decimal("0.001"),
                              price=Decimal("50000"), purpose="manual", intent=f"bench-push-{i}")
                  for i in range(fills)]  # fmt: skip
        lookups = emulator.account.calls["GET /api/v3/order"]
        for order in placed:
            emulator.on_loop(emulator.account.take, int(order.exchange_order_id))
            time.sleep(0.02)
        done = lambda: Order.objects.filter(pk__in=[o.pk for o in placed], status=OrderStatus.FILLED).count()  # noqa: E731
        wait_until(lambda: done() == fills, timeout=60)
        latencies = [(stream.stats.committed_ns[t] - sent) / 1e6 for t, sent in emulator.account.event_times_ns.items()
                     if t in stream.stats.committed_ns]  # fmt: skip
        result = {"fills": fills, "filled": done(), "latencies": latencies,
                  "polls": emulator.account.calls["GET /api/v3/order"] - lookups}  # fmt: skip
        loop.call_soon_threadsafe(stream.stop)
        thread.join(15)
        return result
    finally:
        emulator.close()


def run(args: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py feed")
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--fault-speed", type=float, default=20.0)
    parser.add_argument("--fills", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(args)
    seconds = 3.0 if options.quick else options.seconds
    flood = feed_over_emulator(symbols=options.symbols, seconds=seconds, rate=None)
    paced = feed_over_emulator(symbols=options.symbols, seconds=seconds, rate=options.rate, sample_every=10)
    mismatches, compared = book_mismatches()
    faulted = faults(speed=options.fault_speed)
    pushed = pushed_fills(fills=20 if options.quick else options.fills)
    return {
        "feed_msgs_per_s": round(flood["per_s"]),
        "feed_messages": flood["messages"],
        "feed_tickers_stored": flood["stored_tickers"],
        "feed_msg_to_snapshot_ms_p50": _percentile(paced["latencies"], 0.5),
        "feed_msg_to_snapshot_ms_p99": _percentile(paced["latencies"], 0.99),
        "feed_rate_msgs_per_s": options.rate,
        "feed_book_mismatches": mismatches,
        "feed_book_updates_compared": compared,
        "feed_gap_resyncs": faulted["resyncs"],
        "feed_reconnects": faulted["reconnects"],
        "feed_sequence_numbers_skipped": faulted["skipped"],
        "feed_books_read": faulted["served"],
        "feed_stale_books_served": faulted["wrong"],
        "fill_push_to_record_ms_p50": _percentile(pushed["latencies"], 0.5),
        "fill_push_to_record_ms_p95": _percentile(pushed["latencies"], 0.95),
        "fills_pushed": pushed["fills"],
        "fills_recorded": len(pushed["latencies"]),
        "orders_filled": pushed["filled"],
        "fill_polls": pushed["polls"],
    }
