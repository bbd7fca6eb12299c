"""manage.py run_wallet_sources: the simulated Polymarket and Etherscan APIs for the demo's watched wallets.

Serves `/activity`, `/v2/activity` and Etherscan's `/v2/api` on 127.0.0.1,
makes fills for every enabled watched wallet in the style of the recorded
samples, and keeps books on the outcome markets of the copy account moving
around the prices those fills trade at (so copies fill where the wallets trade).
"""

import logging
import random
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.resilience import Outages
from exchanges.models import Exchange
from wallets.demo import OutcomeBooks
from wallets.models import WatchedWallet
from wallets.simulated import SimulatedChain, SimulatedSourceServer, sample_outcomes

log = logging.getLogger("wallets.simulated")


class Command(BaseCommand):
    help = "Serve simulated wallet sources (Polymarket v1/v2, Etherscan V2) with fills for the watched wallets."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.WALLET_SOURCES_PORT)
        parser.add_argument("--exchange", default="polymarket-paper", help="the account whose books to move")
        parser.add_argument(
            "--trade-every",
            type=float,
            default=settings.WALLET_TRADE_EVERY_S,
            help="mean seconds between a wallet's fills (WALLET_TRADE_EVERY_S)",
        )
        parser.add_argument("--limit-per-s", type=float, default=0.0, help="refuse requests past this rate (0: none)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--clob-port", type=int, default=0,
                            help="also serve the CLOB V2 emulator on this port for the polymarket-clob account "
                                 "(setup_copy_demo --clob-url; 0: not)")  # fmt: skip

    def handle(self, *args, port: int, exchange: str, trade_every: float, limit_per_s: float, seed, clob_port: int,
               **options):  # fmt: skip
        outcomes = sample_outcomes(settings.SHARED_DATA_DIR / "polymarket")
        if not outcomes:
            raise CommandError("No Polymarket samples found (SHARED_DATA_DIR/polymarket).")
        outages = Outages("wallet sources")  # PostgreSQL or Redis away (at start-up too): waited out, never fatal
        account = outages.guard(lambda: Exchange.objects.filter(name=exchange).first())
        rng = random.Random(seed)
        chain = SimulatedChain(outcomes, rng=rng)
        server = SimulatedSourceServer(chain, port=port, limit_per_s=limit_per_s).start()
        stop = outages.stop
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"simulated wallet sources on {server.url} (fills every ~{trade_every:.0f}s a wallet)")
        books = OutcomeBooks(account.name, chain, rng) if account is not None else None
        clob = self._clob(chain, clob_port, outages) if clob_port else None
        next_fill: dict[str, float] = {}

        def one_round() -> None:
            now = time.time()
            for address in WatchedWallet.objects.filter(enabled=True).values_list("address", flat=True):
                due = next_fill.setdefault(address, now + rng.expovariate(1 / trade_every))
                if now >= due:
                    fills = chain.random_trade(address)
                    next_fill[address] = now + rng.expovariate(1 / trade_every)
                    f = fills[0]
                    log.info("fill %s %s %s %s @ %s (%d in tx %s)", address, f.side, f.size, f.outcome.title[:40],
                             f.price, len(fills), f.tx[:12])  # fmt: skip
            if books is not None:
                books.publish()
            if clob is not None:
                clob.requote()

        while not stop.is_set():
            outages.guard(one_round)
            stop.wait(1.0)
        server.stop()
        if clob is not None:
            clob.close()
        self.stdout.write(f"stopped; served {dict(server.calls)}")

    def _clob(self, chain, port: int, outages):
        from wallets.clob_demo import ACCOUNT, ClobDemo

        account = outages.guard(lambda: Exchange.objects.filter(name=ACCOUNT).first())
        if account is None:
            raise CommandError(f"No {ACCOUNT} account: run setup_copy_demo --clob-url http://127.0.0.1:{port} first.")
        clob = ClobDemo(chain, account, port=port, pusd=settings.WALLET_CLOB_DEMO_PUSD)
        synced = outages.guard(clob.sync_markets)
        self.stdout.write(f"CLOB V2 emulator on {clob.url} for {account.name} ({synced} outcome markets)")
        return clob
