"""Sizing a cycle (pure, no database): the most profitable amount the three books allow, not all or nothing."""

from decimal import Decimal as D

from cycles.detection import SIZE_FRACTIONS, size_cycle, triangle_table, walk_cycle
from exchanges.types import OrderBook
from tests.conftest import MARKETS, ladder

THRESHOLD = D("1.001")


def _mispriced_books() -> dict:
    """ETH is cheap in BTC at the touch only (0.1 ETH at 0.04900, fair is 0.05), dear below it."""
    return {
        "BTCUSDT": ladder("BTCUSDT", "60000.00", "60000.01", "1.00"),
        "ETHBTC": OrderBook(
            "ETHBTC",
            bids=((D("0.049990"), D("5")),),
            asks=((D("0.049000"), D("0.1")), (D("0.050200"), D("50"))),
            ts_ms=0,
        ),
        "ETHUSDT": ladder("ETHUSDT", "3000.00", "3000.10", "0.50", sizes=("10", "20")),
    }


def _row(table):
    return next(r for r in range(len(table)) if table.describe(r)["path"] == ["USDT", "BTC", "ETH", "USDT"])


def test_a_mispricing_one_touch_deep_is_traded_at_the_size_it_allows():
    table, books = triangle_table(MARKETS), _mispriced_books()
    whole = walk_cycle(table, _row(table), D("2000"), books)
    assert whole.ok
    assert whole.net_rate < THRESHOLD  # all of it walks into the dear levels
    sized = size_cycle(table, _row(table), D("2000"), books, threshold=THRESHOLD)
    assert sized.ok
    assert sized.net_rate >= THRESHOLD
    assert sized.start_amount < D("500")  # about one touch (0.1 ETH is 300 USDT), lots rounding aside
    for fraction in SIZE_FRACTIONS:  # no amount of the grid makes more
        walk = walk_cycle(table, _row(table), D("2000") * fraction, books)
        if walk.ok and walk.net_rate >= THRESHOLD:
            assert walk.end_amount - walk.start_amount <= sized.end_amount - sized.start_amount


def test_a_deep_opportunity_is_never_cut_for_less():
    table = triangle_table(MARKETS)
    books = _mispriced_books()
    books["ETHBTC"] = ladder("ETHBTC", "0.048900", "0.049000", "0.000001", sizes=("50", "50"))
    whole = walk_cycle(table, _row(table), D("200"), books)
    sized = size_cycle(table, _row(table), D("200"), books, threshold=THRESHOLD)
    assert sized.ok
    assert sized.end_amount - sized.start_amount >= whole.end_amount - whole.start_amount > 0


def test_nothing_passes_the_refusal_names_the_best_rate_seen():
    table = triangle_table(MARKETS)
    books = _mispriced_books()
    books["ETHBTC"] = ladder("ETHBTC", "0.049990", "0.050010", "0.000010")
    sized = size_cycle(table, _row(table), D("200"), books, threshold=THRESHOLD)
    assert not sized.ok
    assert "after depth and lots at best" in sized.reason
