"""manage.py run_wallet_stream: watched wallets' fills from a Polygon node's websocket, recorded as they happen."""

import asyncio
import contextlib
import signal
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wallets.streaming import WalletStream


class Command(BaseCommand):
    help = ("Subscribe to the CTF Exchange V2 OrderFilled logs of the watched wallets on a Polygon node (--url, or "
            "POLYGON_WS_URL) and record each fill as it arrives; polling stays the gap filler.")  # fmt: skip

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="the node's websocket (default: POLYGON_WS_URL)")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")

    def handle(self, *args, url: str | None, seconds: float | None, **options):
        url = url or settings.POLYGON_WS_URL
        if not url.startswith(("ws://", "wss://")):
            raise CommandError("Give the node's websocket with --url or POLYGON_WS_URL (ws:// or wss://).")
        stream = WalletStream(url)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._main(stream, seconds))
        self.stdout.write(f"wallet stream: {asdict(stream.stats)}")

    async def _main(self, stream: WalletStream, seconds: float | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if seconds is not None:
            loop.call_later(seconds, stop.set)
        self.stdout.write(f"wallet stream: listening on {stream.url}")
        await stream.run(stop)
