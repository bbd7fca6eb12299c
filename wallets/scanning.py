"""Incremental scanning of watched wallets: claim the due ones, read their sources, store new fills once.

A scan reads from the wallet's cursor minus an overlap, keeps the fills whose
dedup key is not stored yet, and inserts them, their copy decisions and the
advanced cursor in one transaction: a crash before the commit re-reads the
same fills next time; after it, the keys are known and nothing is inserted
twice. A new wallet starts at the source's present. Wallets are claimed when
due with SKIP LOCKED and rescheduled by activity (WALLET_SCAN_ACTIVE_S,
_QUIET_S, _IDLE_S); a source's rate limit or daily limit reschedules them
without losing their place.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import metrics
from core.claims import claim
from core.failpoints import failpoint

from .locks import wallets_for_update
from .models import CopyTrade, CopyTradeStatus, WalletTrade, WatchedWallet
from .sources import ScanResult, Source, SourceDailyLimit, SourceError, SourceRateLimited, source_for
from .sources.base import cursor_value

log = logging.getLogger(__name__)


def scan_tier(last_trade_at: datetime | None, now: datetime) -> tuple[str, float]:
    """active / quiet / idle by how recently the wallet traded, and its scan interval."""
    age = None if last_trade_at is None else (now - last_trade_at).total_seconds()
    if age is not None and age <= settings.WALLET_ACTIVE_WINDOW_S:
        return "active", settings.WALLET_SCAN_ACTIVE_S
    if age is not None and age <= settings.WALLET_QUIET_WINDOW_S:
        return "quiet", settings.WALLET_SCAN_QUIET_S
    return "idle", settings.WALLET_SCAN_IDLE_S


def wallets_claim_due(*, now: datetime | None = None, limit: int = 200, among: list[int] | None = None) -> list[int]:
    """Due wallets (of `among`, if given), leased for WALLET_SCAN_LEASE_S so no other tick takes them meanwhile."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.WALLET_SCAN_LEASE_S)
    rows = claim(
        "wallets_watchedwallet", lease_column="next_scan_at", until=lease,
        where="enabled AND (next_scan_at IS NULL OR next_scan_at <= %s) AND (%s::bigint[] IS NULL OR id = ANY(%s))",
        params=[now, among, among], order_by="next_scan_at NULLS FIRST, id", limit=limit,
    )  # fmt: skip
    return [row[0] for row in rows]


@dataclass
class ScanOutcome:
    wallet_id: int
    calls: int = 0
    new_trades: int = 0
    copies: list[int] = field(default_factory=list)
    error: str = ""


def _known(keys: list[str]) -> set[str]:
    return set(WalletTrade.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))


def wallet_scan(*, wallet_id: int, source: Source | None = None, now: datetime | None = None) -> ScanOutcome:
    """Scan one wallet now; returns what it found. Copies of new fills are queued after commit."""
    wallet = WatchedWallet.objects.get(pk=wallet_id)
    outcome = ScanOutcome(wallet_id)
    source = source or source_for(wallet.source)
    calls_before = source.calls
    try:
        if not wallet.cursor:
            result = ScanResult(cursor=source.present_cursor(wallet.address))
        else:
            result = source.scan(wallet.address, wallet.cursor, _known)
    except SourceError as exc:
        outcome.calls = source.calls - calls_before
        outcome.error = str(exc)
        if isinstance(exc, SourceDailyLimit):  # the whole source stops until the allowance resets
            source.limiter.ban(exc.until)
        _scan_failed(wallet, exc, now or timezone.now())
        return outcome
    outcome.calls = source.calls - calls_before
    now = now or timezone.now()
    with transaction.atomic():
        locked = wallets_for_update().get(pk=wallet.pk)
        stored, pending = _store(locked, result.trades, now)
        if _after(result.cursor, locked.cursor):
            locked.cursor = result.cursor
        locked.scan_tier, interval = scan_tier(locked.last_trade_at, now)
        locked.next_scan_at = now + timedelta(seconds=interval)
        locked.last_scanned_at = locked.validated_at = now
        locked.last_error, locked.errors_in_a_row = "", 0
        locked.save(update_fields=["cursor", "last_trade_at", "scan_tier", "next_scan_at", "last_scanned_at",
                                   "validated_at", "last_error", "errors_in_a_row", "updated_at"])  # fmt: skip
        failpoint("wallet.before_commit")
        if pending:
            transaction.on_commit(lambda: _queue_copies(pending))
    outcome.new_trades, outcome.copies = len(stored), pending
    return outcome


def _path(key: str) -> str:
    """Which path found a fill (es: Etherscan, pm: the Data API, of: the OrderFilled stream): its key's prefix."""
    return key.partition(":")[0]


def _store(locked: WatchedWallet, trades: list, now: datetime) -> tuple[list[WalletTrade], list[int]]:
    """Insert the fills not stored yet and their copy decisions (under the wallet's lock); (stored, pending copies).

    Within one path a fill is known by its dedup key. Across paths a transaction belongs to the first path that
    recorded it: the paths cut a transaction into fills differently (one OrderFilled per order against one
    transfer per movement), so the other path's fills of that transaction are the same trades and are left out.
    """
    # One read serves both checks: every key names its wallet and transaction, so the stored keys of these fills
    # are among the rows of their transactions.
    rows = WalletTrade.objects.filter(wallet=locked, tx_hash__in={t.tx_hash for t in trades})
    stored_keys, paths = set(), defaultdict(set)  # paths: tx -> the paths that recorded it
    for tx, key in rows.values_list("tx_hash", "dedup_key"):
        stored_keys.add(key)
        paths[tx].add(_path(key))
    fresh = [t for t in trades if t.dedup_key not in stored_keys and not paths[t.tx_hash] - {_path(t.dedup_key)}]
    # Under the wallet's lock, so no other scan of it inserts meanwhile; keys carry the wallet's address.
    stored = WalletTrade.objects.bulk_create(
        [WalletTrade(wallet=locked, dedup_key=t.dedup_key, tx_hash=t.tx_hash, block_number=t.block_number,
                     traded_at=t.traded_at, market=t.market[:200], asset=t.asset[:200], title=t.title, side=t.side,
                     price=t.price, size=t.size, raw=t.raw) for t in fresh]
    )  # fmt: skip
    copies = CopyTrade.objects.bulk_create([_decide(locked, trade, now) for trade in stored])
    seen = time.time()
    for trade in stored:
        metrics.observe(metrics.wallet_detection_lag, seen - trade.traded_at.timestamp(),
                        source=_path(trade.dedup_key))  # fmt: skip
    if stored:
        newest = max(t.traded_at for t in stored)
        locked.last_trade_at = max(newest, locked.last_trade_at) if locked.last_trade_at else newest
    return stored, [c.pk for c in copies if c.status == CopyTradeStatus.PENDING]


def wallet_stream_record(*, wallet_id: int, trades: list, block: int, now: datetime | None = None) -> list[int]:
    """Fills the log stream saw for one wallet, up to `block`: stored like a scan's (once, whichever path sees a
    transaction first), the stream's place kept on the wallet. Returns the copies queued."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = wallets_for_update().get(pk=wallet_id)
        _, pending = _store(locked, trades, now)
        locked.stream_block = max(block, locked.stream_block or 0)
        locked.save(update_fields=["stream_block", "last_trade_at", "updated_at"])
        failpoint("wallet.stream_before_commit")
        if pending:
            transaction.on_commit(lambda: _queue_copies(pending))
    return pending


def _after(new: str, old: str) -> bool:
    """Cursors only move forward (`kind:n`); a different kind (the source changed) replaces the old one."""
    if not old:
        return bool(new)
    kind = new.partition(":")[0]
    new_n, old_n = cursor_value(new, kind), cursor_value(old, kind)
    if old_n is None:  # another kind: the source changed
        return True
    return new_n is not None and new_n > old_n


def _decide(wallet: WatchedWallet, trade: WalletTrade, now: datetime) -> CopyTrade:
    """The copy row of a new fill: pending, or skipped with the reason when it must not be copied."""
    age = (now - trade.traded_at).total_seconds()
    reason = ""
    if not wallet.copy_enabled or wallet.copy_exchange_id is None:
        reason = "copying is off for this wallet" if wallet.copy_exchange_id else "no account to copy to"
    elif trade.traded_at < wallet.created_at.replace(microsecond=0):  # sources stamp fills to the second
        reason = "traded before the wallet was watched (its history is not copied)"
    elif age > settings.COPY_MAX_AGE_S:
        reason = f"detected {age:.0f} s after it traded; copies are made within {settings.COPY_MAX_AGE_S:.0f} s"
    if reason:
        return CopyTrade(wallet_trade=trade, status=CopyTradeStatus.SKIPPED, reason=reason)
    return CopyTrade(wallet_trade=trade, status=CopyTradeStatus.PENDING)


def _queue_copies(copy_ids: list[int]) -> None:
    from .tasks import copy_trade

    for copy_id in copy_ids:
        copy_trade.delay(copy_id)


def _scan_failed(wallet: WatchedWallet, exc: SourceError, now: datetime) -> None:
    """Keep the cursor; come back after the source's limit, or with backoff on errors."""
    if isinstance(exc, SourceDailyLimit):
        retry_at = exc.until
    elif isinstance(exc, SourceRateLimited):
        retry_at = now + timedelta(seconds=exc.retry_after)
    else:
        wait = min(settings.WALLET_SCAN_IDLE_S, 2.0 ** min(wallet.errors_in_a_row + 1, 10))
        retry_at = now + timedelta(seconds=wait)
    errors = 0 if isinstance(exc, SourceRateLimited) else 1
    WatchedWallet.objects.filter(pk=wallet.pk).update(
        next_scan_at=retry_at, last_error=str(exc)[:1000], errors_in_a_row=wallet.errors_in_a_row + errors,
        last_scanned_at=now,
    )  # fmt: skip
    log.warning("wallet %s (%s): scan failed: %s; next at %s", wallet.pk, wallet.source, exc, retry_at.isoformat())
