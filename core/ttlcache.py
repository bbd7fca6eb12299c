"""A bounded in-process cache: least recently used entries go first, every entry expires after a TTL.

Thread-safe. Hits, misses, expiries and evictions are counted; `flush_counts`
hands the counts gathered since the last call to whoever aggregates them
across processes.
"""

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable

_MISSING = object()


class TTLCache:
    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1 or ttl_s <= 0:
            raise ValueError("a TTL cache needs maxsize >= 1 and ttl_s > 0")
        self.maxsize, self.ttl_s, self.clock = maxsize, ttl_s, clock
        self._data: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def get(self, key: Hashable, default=None):
        now = self.clock()
        with self._lock:
            entry = self._data.get(key, _MISSING)
            if entry is not _MISSING and entry[0] > now:
                self._data.move_to_end(key)
                self.counts["hits"] += 1
                return entry[1]
            if entry is not _MISSING:
                del self._data[key]
                self.counts["expired"] += 1
            self.counts["misses"] += 1
            return default

    def put(self, key: Hashable, value: object) -> None:
        with self._lock:
            self._data[key] = (self.clock() + self.ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
                self.counts["evictions"] += 1

    def get_or_load(self, key: Hashable, load: Callable[[], object]):
        """The cached value, or `load()`'s (cached, None included: a known absence is an answer too)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = load()
            self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def flush_counts(self) -> dict[str, int]:
        with self._lock:
            counts, self.counts = dict(self.counts), Counter()
        return counts
