"""Candles from trades, kept incrementally in memory (pure: no Django, no Redis).

Each trade updates its market's open one-minute candle. When a minute ends (a later trade arrives, or `close_due`
is told the time), its candle is closed and folded into the open candle of every higher timeframe, which closes
in turn when its own span ends: the higher timeframes are derived from the minutes, never from the trades again.
Closed candles wait in `closed` until the writer takes them in bulk. Prices and sizes stay the venue's decimals.
"""

from dataclasses import dataclass
from decimal import Decimal

MINUTE_MS = 60_000
# Timeframe -> span in ms, the base first; each span is a whole multiple of the one before.
TIMEFRAMES: dict[str, int] = {
    "1m": MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "1d": 1440 * MINUTE_MS,
}
BASE = "1m"
ZERO = Decimal(0)


@dataclass(slots=True)
class Candle:
    symbol: str
    timeframe: str
    open_ms: int  # the start of its span (UTC, aligned to the span)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base asset traded
    quote_volume: Decimal  # quote asset traded (price x size, summed)
    trades: int

    @property
    def close_ms(self) -> int:
        return self.open_ms + TIMEFRAMES[self.timeframe]

    def fold(self, other: "Candle") -> None:
        """Add a later candle (or one trade as a candle) of a shorter span inside this one's."""
        if other.high > self.high:
            self.high = other.high
        if other.low < self.low:
            self.low = other.low
        self.close = other.close
        self.volume += other.volume
        self.quote_volume += other.quote_volume
        self.trades += other.trades

    def copy(self, timeframe: str | None = None) -> "Candle":
        timeframe = timeframe or self.timeframe
        span = TIMEFRAMES[timeframe]
        return Candle(self.symbol, timeframe, self.open_ms - self.open_ms % span, self.open, self.high, self.low,
                      self.close, self.volume, self.quote_volume, self.trades)  # fmt: skip


class CandleAggregator:
    """Open candles per market and timeframe; closed ones queued for the writer (`take_closed`).

    A trade older than its market's open minute (out of order) cannot change a closed candle any more: it is
    counted in `late` and left out, as an exchange's own klines would have it in the minute it was printed.
    """

    def __init__(self, timeframes: tuple[str, ...] = tuple(TIMEFRAMES)) -> None:
        if timeframes[0] != BASE or any(t not in TIMEFRAMES for t in timeframes):
            raise ValueError(f"timeframes must start at {BASE} and be among {', '.join(TIMEFRAMES)}")
        self.higher = timeframes[1:]
        self.minute: dict[str, Candle] = {}  # symbol -> its open minute
        self.open_higher: dict[tuple[str, str], Candle] = {}  # (symbol, timeframe) -> its open candle
        self.closed: list[Candle] = []
        self.closed_before: dict[str, int] = {}  # symbol -> the end of its last closed minute
        self.latest_ms = 0  # the newest trade's time: the market's own clock
        self.late = 0
        self.trades = 0

    def add(self, symbol: str, price: Decimal, size: Decimal, ts_ms: int) -> None:
        """One trade: its minute's open candle takes it (the hot path: a dict lookup and a few comparisons)."""
        self.trades += 1
        if ts_ms > self.latest_ms:
            self.latest_ms = ts_ms
        bar = self.minute.get(symbol)
        if bar is not None and ts_ms < bar.open_ms + MINUTE_MS:
            if ts_ms < bar.open_ms:
                self.late += 1
                return
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
            bar.volume += size
            bar.quote_volume += price * size
            bar.trades += 1
            return
        if bar is not None:
            self._close_minute(bar)
        elif ts_ms < self.closed_before.get(symbol, 0):  # its minute was closed (and written) already
            self.late += 1
            return
        start = ts_ms - ts_ms % MINUTE_MS
        self._close_higher(symbol, before_ms=start)
        self.minute[symbol] = Candle(symbol, BASE, start, price, price, price, price, size, price * size, 1)

    def add_closed_minute(self, minute: Candle) -> None:
        """A minute closed elsewhere (a venue's candle history), rolled up like one closed here (in time order)."""
        self._close_minute(minute)

    def _close_higher(self, symbol: str, *, before_ms: int) -> None:
        """The higher candles of `symbol` whose span ended by `before_ms` are complete: closed."""
        for timeframe in self.higher:
            bar = self.open_higher.get((symbol, timeframe))
            if bar is not None and bar.close_ms <= before_ms:
                del self.open_higher[(symbol, timeframe)]
                self.closed.append(bar)

    def _close_minute(self, minute: Candle) -> None:
        self.closed.append(minute)
        self.closed_before[minute.symbol] = minute.close_ms
        for timeframe in self.higher:
            key = (minute.symbol, timeframe)
            bar = self.open_higher.get(key)
            if bar is not None and minute.open_ms >= bar.close_ms:
                self.closed.append(bar)
                bar = None
            if bar is None:
                self.open_higher[key] = minute.copy(timeframe)
            else:
                bar.fold(minute)

    def close_due(self, now_ms: int) -> None:
        """Close every candle whose span has ended by `now_ms` (quiet markets get their last candles written)."""
        for symbol, bar in list(self.minute.items()):
            if bar.close_ms <= now_ms:
                del self.minute[symbol]
                self._close_minute(bar)
        for key, bar in list(self.open_higher.items()):
            if bar.close_ms <= now_ms:
                del self.open_higher[key]
                self.closed.append(bar)

    def take_closed(self) -> list[Candle]:
        closed, self.closed = self.closed, []
        return closed

    def open_candles(self) -> list[Candle]:
        """Every candle not closed yet, as it stands now (copies), the open minute folded into the higher ones."""
        result = []
        for symbol, minute in self.minute.items():
            result.append(minute.copy())
            for timeframe in self.higher:
                bar = self.open_higher.get((symbol, timeframe))
                current = bar.copy() if bar is not None else minute.copy(timeframe)
                if bar is not None:
                    current.fold(minute)
                result.append(current)
        result += [bar.copy() for (symbol, _), bar in self.open_higher.items() if symbol not in self.minute]
        return result
