"""manage.py run_simulator: move the paper venue's market and publish it to the Redis snapshot."""

import json
import logging
import signal
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.clock import to_ms
from core.memory import freeze_loaded_objects
from core.resilience import Outages
from exchanges.binance_format import parse_tickers, replay_recording
from exchanges.depth_profile import load_profile, shape_book
from exchanges.marketdata import MarketDataSnapshot, now_ms
from exchanges.models import Exchange, ExchangeKind, PaperTrade
from exchanges.paper import PaperVenue
from exchanges.simulator import MarketSimulator, SimulatorConfig
from exchanges.trades import TradeReaders

log = logging.getLogger("exchanges.simulator")


class Command(BaseCommand):
    help = "Simulate the paper venue's market from the real 2020 snapshot (or replay recorded books)."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", default="paper")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between ticks")
        parser.add_argument("--ticks", type=int, default=0, help="stop after this many ticks (0: run until stopped)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--tickers", default=str(settings.PAPER_TICKERS), help="a Binance ticker/24hr file")
        parser.add_argument(
            "--mispricing-rate",
            type=float,
            default=settings.SIMULATOR_MISPRICING_RATE,
            help="mispricings opened a minute (SIMULATOR_MISPRICING_RATE)",
        )
        parser.add_argument("--mispricing-bps", type=float, nargs=2, default=(15.0, 60.0), metavar=("MIN", "MAX"),
                            help="how far past its triangle's fees and spreads a mispricing opens")  # fmt: skip
        parser.add_argument("--mispricing-lifetime", type=float, default=20.0, help="seconds")
        parser.add_argument("--book-depth", type=int, default=20)
        parser.add_argument("--replay", nargs="*", metavar="FILE", help="replay depth recordings instead")
        parser.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = recorded pace)")

    def handle(self, *args, **opts):
        self.outages = Outages("simulator")  # PostgreSQL or Redis away (at start-up too): waited out, never fatal
        exchange = self.outages.guard(
            lambda: Exchange.objects.filter(name=opts["exchange"], kind=ExchangeKind.PAPER).first()
        )
        if exchange is None:
            raise CommandError(f"No paper exchange named {opts['exchange']!r}; run `make run` or setup_demo first.")
        snapshot = MarketDataSnapshot(exchange.name)
        if opts["replay"] is not None:
            return self.replay(exchange, snapshot, opts)
        venue = PaperVenue(exchange)
        markets = self.outages.guard(lambda: venue.markets)
        if not markets:
            raise CommandError(f"{exchange.name} has no markets; run `manage.py sync_markets {exchange.name}`.")
        with open(opts["tickers"]) as fh:
            tickers = parse_tickers(json.load(fh))
        config = SimulatorConfig(
            mispricing_rate_per_min=opts["mispricing_rate"],
            mispricing_bps=tuple(opts["mispricing_bps"]),
            mispricing_lifetime_s=opts["mispricing_lifetime"],
        )
        sim = MarketSimulator.from_snapshot(list(markets.values()), tickers, config=config, seed=opts["seed"])
        profile = load_profile(str(settings.PAPER_DEPTH_PROFILE))
        self.stdout.write(
            f"simulating {len(sim.markets)} markets of {exchange.name} every {opts['interval']}s "
            f"(books shaped by {profile.source})"
        )
        last_trade_id = self.outages.guard(
            lambda: PaperTrade.objects.filter(exchange=exchange).order_by("-id").values_list("id", flat=True).first()
        )
        state = {"tick": 0, "last_trade_id": last_trade_id or 0, "stepped": -1}
        readers = TradeReaders(exchange)  # the market's trades (analytics makes candles of them)
        freeze_loaded_objects()  # a tick is never held up by a collection walking them all
        started = time.monotonic()

        def tick_once() -> None:
            tick = state["tick"]
            now = time.monotonic() - started
            if state["stepped"] < tick:  # a tick retried after an outage does not move the market twice
                sim.step(opts["interval"] if tick else 0.0, now)
                state["stepped"] = tick
            # Fills on mispriced markets use the opportunity up; every fill is a public trade of its market.
            for symbol, price, amount, executed_at, trade_id in (
                PaperTrade.objects.filter(exchange=exchange, id__gt=state["last_trade_id"])
                .values_list("order__symbol", "price", "amount", "executed_at", "id")
                .order_by("id")
            ):
                sim.consume(symbol, amount)
                readers.add(symbol, price, amount, to_ms(executed_at))
                state["last_trade_id"] = trade_id
            published = sim.tickers(now)  # stamped once computed
            for trade in sim.public_trades({t.symbol: t for t in published}, readers.symbols()):
                readers.add(*trade)
            readers.maybe_flush()  # candles, when due
            wanted = snapshot.wanted_books() | set(sim.mispricings)
            by_symbol = {t.symbol: t for t in published}
            books = [shape_book(by_symbol[s], profile, price_step=markets[s].price_step, depth=opts["book_depth"])
                     for s in wanted if s in by_symbol]  # fmt: skip
            snapshot.publish(published, books)
            venue.match_resting()
            if tick % 20 == 0:
                log.info(
                    "simulator tick",
                    extra={"tick": tick, "mispricings": {s: round(m.bps, 1) for s, m in sim.mispricings.items()}},
                )
            state["tick"] += 1

        stop = self.outages.stop
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.is_set() and (not opts["ticks"] or state["tick"] < opts["ticks"]):
            loop_started = time.monotonic()
            self.outages.guard(tick_once)
            stop.wait(max(0.0, opts["interval"] - (time.monotonic() - loop_started)))
        readers.flush()

    def replay(self, exchange, snapshot: MarketDataSnapshot, opts):
        """Play recorded books (snapshot + diffs, Binance's sequence rules) at recorded or faster pace."""
        paths = opts["replay"] or [
            str(settings.SHARED_DATA_DIR / "binance" / "depth" / name)
            for name in ("btcusdt_20240808.gz", "ethusdt_20240808.gz")
        ]
        streams = [replay_recording(__import__("pathlib").Path(p), opts["book_depth"]) for p in paths]
        pending = [next(s, None) for s in streams]
        first_ts = min(item[0] for item in pending if item)
        wall_start = time.monotonic()
        published = 0
        while any(pending):
            i = min((k for k, item in enumerate(pending) if item), key=lambda k: pending[k][0])
            ts, book = pending[i]
            delay = (ts - first_ts) / 1e9 / opts["speed"] - (time.monotonic() - wall_start)
            if delay > 0:
                time.sleep(delay)
            snapshot.publish_books([book], now_ms())
            published += 1
            pending[i] = next(streams[i], None)
        self.stdout.write(f"replayed {published} book updates at {opts['speed']}x ({datetime.now(UTC):%H:%M:%S})")
