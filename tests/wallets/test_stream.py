"""The wallet stream: V2 OrderFilled logs from a node's websocket (bench/polygon_node.py on 127.0.0.1), recorded
as they arrive, once whichever path (the stream or a poller) sees a transaction first, and nothing missed across
a dropped connection."""

import asyncio
import threading
from decimal import Decimal

import pytest

from bench.common import wait_until
from bench.polygon_node import PolygonNode
from wallets.models import WalletTrade
from wallets.scanning import wallet_scan
from wallets.sources.base import SourceError
from wallets.sources.orderfilled import fill_of, log_of
from wallets.streaming import WalletStream

D = Decimal
WALLET = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"
TX = "0x" + "ab" * 32
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_log_is_the_makers_fill_priced_exactly():
    buy = log_of(tx=TX, log_index=7, block=90, maker=WALLET, taker="0x" + "11" * 20, side="buy", token="123",
                 shares=125_000_000, cash=77_500_000)  # fmt: skip
    fill = fill_of(WALLET, buy)
    assert (fill.side, fill.size, fill.price, fill.asset, fill.block_number) == ("buy", D(125), D("0.62"), "123", 90)
    assert fill.dedup_key == f"of:{WALLET}:{TX}:7"
    sell = log_of(tx=TX, log_index=8, block=90, maker=WALLET, taker="0x" + "11" * 20, side="sell", token="123",
                  shares=40_000_000, cash=25_200_000)  # fmt: skip
    assert (fill_of(WALLET, sell).side, fill_of(WALLET, sell).price) == ("sell", D("0.63"))
    assert fill_of("0x" + "22" * 20, buy) is None  # someone else's order
    with pytest.raises(SourceError, match="not an OrderFilled"):
        fill_of(WALLET, buy | {"topics": ["0x" + "00" * 32, *buy["topics"][1:]]})


class Running:
    """The stream in a thread of its own, stopped at the end."""

    def __init__(self, url: str) -> None:
        self.stream = WalletStream(url, refresh_s=0.5)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        self.ready.set()
        await self.stream.run(self.stop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


@pytest.fixture
def node(chain):
    node = PolygonNode(chain)
    yield node
    node.close()


def keys(wallet) -> list[str]:
    return sorted(WalletTrade.objects.filter(wallet=wallet).values_list("dedup_key", flat=True))


def test_streamed_fills_are_recorded_at_once_and_the_poller_records_them_no_second_time(sim, chain, node, watched):
    wallet = watched(WALLET, source="etherscan", copy_enabled=False)
    wallet_scan(wallet_id=wallet.pk)  # the poller's cursor at the present
    running = Running(node.url)
    try:
        assert wait_until(lambda: node.subscriptions, timeout=10)
        chain.trade(WALLET, side="BUY", size=30.0, price=0.4, fills=2)
        assert wait_until(lambda: len(keys(wallet)) == 2, timeout=10)
        assert all(k.startswith("of:") for k in keys(wallet))
        streamed = {(t.size, t.price) for t in WalletTrade.objects.filter(wallet=wallet)}
        assert streamed == {(D(30), D("0.4"))}
        wallet_scan(wallet_id=wallet.pk)  # Etherscan shows the same transaction: nothing more is stored
        assert len(keys(wallet)) == 2
    finally:
        running.close()


def test_a_dropped_stream_resumes_from_its_cursor_and_a_polled_transaction_is_not_recorded_again(
    sim, chain, node, watched
):
    wallet = watched(WALLET, source="etherscan", copy_enabled=False)
    wallet_scan(wallet_id=wallet.pk)
    running = Running(node.url)
    try:
        assert wait_until(lambda: node.subscriptions, timeout=10)
        chain.trade(WALLET, side="BUY", size=10.0, price=0.5)
        assert wait_until(lambda: len(keys(wallet)) == 1, timeout=10)
        node.paused = True
        node.drop()  # the next fills happen while nobody listens
        polled = chain.trade(WALLET, side="BUY", size=11.0, price=0.5)[0]
        missed = chain.trade(WALLET, side="SELL", size=5.0, price=0.55, fills=2)
        wallet_scan(wallet_id=wallet.pk)  # the poller fills the gap first for every fill it sees
        assert wait_until(lambda: len(keys(wallet)) == 4, timeout=10)
        node.paused = False
        assert wait_until(
            lambda: running.stream.stats.connects >= 2 and running.stream.stats.backfilled >= 3, timeout=15
        )
        rows = list(WalletTrade.objects.filter(wallet=wallet).values_list("tx_hash", "dedup_key"))
        assert len(rows) == 4  # the read-back found all three, each already stored by the poller
        assert {tx for tx, _ in rows} == {chain.of(WALLET)[0].tx, polled.tx, missed[0].tx}
        chain.trade(WALLET, side="BUY", size=12.0, price=0.5)  # and the stream is live again
        assert wait_until(lambda: len(keys(wallet)) == 5, timeout=10)
    finally:
        running.close()
