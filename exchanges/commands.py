"""The shape of a long-running command over the enabled ccxt accounts (run_feed, run_user_stream): `--exchange
NAME` or `--all`, `--seconds`; with `--all` and no account yet it stays up and looks again every 30 s (a
supervised process that exited would only be restarted in a loop); its asyncio work stops cleanly on SIGINT or
SIGTERM."""

import asyncio
import contextlib
import signal
from abc import ABCMeta, abstractmethod

from django.core.management.base import BaseCommand, CommandError

from core.memory import freeze_loaded_objects
from core.resilience import Outages, wait_for_work

from .models import Exchange, ExchangeKind


class CcxtAccountsCommand(BaseCommand, metaclass=ABCMeta):
    what = ""  # "feed", "user stream": its outage log name
    needs_api_key = False
    none_named = ""  # the error for --exchange NAME that matches no account ({name} in it)
    nothing = ""  # what --all says while there is no account

    def add_arguments(self, parser):
        parser.add_argument("--exchange", help="the account's name")
        parser.add_argument("--all", action="store_true", help="every enabled ccxt account (the Procfile's)")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")

    def handle(self, *args, **opts):
        if bool(opts["exchange"]) == bool(opts["all"]):
            raise CommandError("Give --exchange NAME or --all.")
        outages, name = Outages(self.what), opts["exchange"]

        def find() -> list[Exchange]:
            accounts = Exchange.objects.filter(enabled=True, kind=ExchangeKind.CCXT)
            return [a for a in (accounts.filter(name=name) if name else accounts)
                    if a.api_key or not self.needs_api_key]  # fmt: skip

        if name:
            accounts = outages.guard(find)
            if not accounts:
                raise CommandError(self.none_named.format(name=name))
        else:
            accounts = wait_for_work(find, outages=outages, say=self.stdout.write, nothing=self.nothing,
                                     once=opts["seconds"] is not None)  # fmt: skip
            if not accounts:
                return
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._main(accounts, opts["seconds"]))

    async def _main(self, accounts: list[Exchange], seconds: float | None) -> None:
        workers = [await asyncio.to_thread(self.build, account) for account in accounts]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: [worker.stop() for worker in workers])
        for worker, account in zip(workers, accounts, strict=True):
            self.stdout.write(f"{account.name}: {self.describe(worker)}")
        freeze_loaded_objects()  # a message's path to Redis is never held up by a collection walking them all
        await asyncio.gather(*(worker.run(seconds=seconds) for worker in workers))
        for worker, account in zip(workers, accounts, strict=True):
            await self.finish(worker, account)
            self.stdout.write(f"{account.name}: {worker.stats.as_dict()}")

    # --- what a command defines -----------------------------------------------------------------------------
    @abstractmethod
    def build(self, account: Exchange):
        """The account's worker (in a thread: it may read the database): has run(seconds=), stop(), stats."""

    def describe(self, worker) -> str:
        return "starting"

    async def finish(self, worker, account: Exchange) -> None:
        """After the worker stopped."""
