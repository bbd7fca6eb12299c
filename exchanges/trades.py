"""Public trades, as the market-data writers see them (the simulator, the paper venue's fills, a venue's trade
stream), handed to whoever registered for them in AppConfig.ready() (analytics' candle writer): the writers know
nothing of their readers.

A reader is made per account by its factory and says which markets it wants trades of (`symbols`, asked again
every `SYMBOLS_REFRESH_S`); the writer calls `add` for each trade of those and `maybe_flush` as it goes.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

log = logging.getLogger(__name__)

SYMBOLS_REFRESH_S = 60.0


class TradeReader(Protocol):
    def symbols(self) -> set[str]: ...
    def add(self, symbol: str, price: Decimal, size: Decimal, ts_ms: int) -> None: ...
    def maybe_flush(self) -> None: ...
    def flush(self) -> int: ...


_factories: list[Callable[..., TradeReader]] = []


def trade_reader_register(factory: Callable[..., TradeReader]) -> None:
    """`factory(exchange)` makes one account's reader (called once per writer process)."""
    if factory not in _factories:
        _factories.append(factory)


class TradeReaders:
    """Every registered reader of one account, behind one object; a reader that fails is logged and skipped, so a
    writer's market data never stops for it."""

    def __init__(self, exchange) -> None:
        self.readers = [factory(exchange) for factory in _factories]
        self._symbols: set[str] = set()
        self._symbols_at = -SYMBOLS_REFRESH_S

    def symbols(self) -> set[str]:
        """The markets some reader wants trades of (refreshed every SYMBOLS_REFRESH_S; kept if asking fails)."""
        if time.monotonic() - self._symbols_at >= SYMBOLS_REFRESH_S:
            try:
                self._symbols = set().union(*(reader.symbols() for reader in self.readers))
                self._symbols_at = time.monotonic()
            except Exception as exc:
                log.warning("trade readers: which markets they want is unknown for now: %s", exc)
        return self._symbols

    def add(self, symbol: str, price: Decimal, size: Decimal, ts_ms: int) -> None:
        for reader in self.readers:
            reader.add(symbol, price, size, ts_ms)

    def maybe_flush(self) -> None:
        self._each("maybe_flush")

    def flush(self) -> None:
        self._each("flush")

    def _each(self, method: str) -> None:
        for reader in self.readers:
            try:
                getattr(reader, method)()
            except Exception as exc:
                log.warning("trade reader %s: %s failed: %s", type(reader).__name__, method, exc)


class TradeThread:
    """The readers behind a queue, served by a thread of their own: for an asyncio writer (a feed), whose loop must
    not wait on a database write. `put` never blocks; `symbols` is what the thread last learned."""

    def __init__(self, readers: TradeReaders, *, idle_s: float = 0.5) -> None:
        self.readers = readers
        self.idle_s = idle_s
        self.wanted: set[str] = set()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="trade-readers", daemon=True)

    def start(self) -> "TradeThread":
        self.wanted = self.readers.symbols()
        self._thread.start()
        return self

    def put(self, symbol: str, price: str, size: str, ts_ms: int) -> None:
        self._queue.put((symbol, price, size, ts_ms))

    def symbols(self) -> set[str]:
        return self.wanted

    def _serve(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                symbol, price, size, ts_ms = self._queue.get(timeout=self.idle_s)
                self.readers.add(symbol, Decimal(price), Decimal(size), int(ts_ms))
            except queue.Empty:
                pass
            self.wanted = self.readers.symbols()
            self.readers.maybe_flush()
        self.readers.flush()

    def stop(self, timeout: float = 10.0) -> None:
        """Work through what was put, write it, and end the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
