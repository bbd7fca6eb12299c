"""Outside data is validated at the edge: every malformed row is a SourceError naming the field, each scan is
capped in pages and bytes, and a second or block the API cannot page through is an error, never a loop."""

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import responses

from wallets.sources import SourceError, SourceRateLimited, source_for
from wallets.sources.etherscan import join_fills
from wallets.sources.polymarket import parse_activity

pytestmark = pytest.mark.django_db
WALLET = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"
OTHER = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"
TX = "0x" + "ab" * 32
TOKEN = "31580298928034717121287201018973507946553544207612680382558768593005033869136"
API = "https://data-api.test"


def trade(**changes):
    row = {"proxyWallet": WALLET, "timestamp": 1777091978, "conditionId": "0x" + "11" * 32, "type": "TRADE",
           "size": 10.5, "price": 0.42, "asset": TOKEN, "side": "BUY", "title": "A market",
           "transactionHash": TX}  # fmt: skip
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (trade(size=...), "'size' is missing"),
        (trade(price=...), "'price' is missing"),
        (trade(size=float("nan")), "size is not finite"),
        (trade(price=float("inf")), "price is not finite"),
        (trade(price="-0.5"), "price must be above zero"),
        (trade(price=0), "price must be above zero"),
        (trade(size=-3), "size must be above zero"),
        (trade(size=1e30), "size is beyond what an amount can hold"),
        (trade(size=True), "size is not a number"),
        (trade(price=1.5), "price 1.5 is above 1"),
        (trade(transactionHash=TX + "00"), "transactionHash is not a transaction hash"),
        (trade(transactionHash=...), "transactionHash is not a transaction hash"),
        (trade(proxyWallet=OTHER), "is not the watched wallet"),
        (trade(type=...), "has no 'type'"),
        (trade(side="HOLD"), "side is 'HOLD'"),
        (trade(timestamp="yesterday"), "timestamp is not a unix time"),
        (trade(asset="9" * 150), "asset is longer than 100 characters"),
        ("not a row", "is not an object"),
    ],
)
def test_every_malformed_polymarket_row_is_refused_by_name(row, field):
    with pytest.raises(SourceError, match=re.escape(field)):
        parse_activity(WALLET, [trade(), row])


def test_a_rebate_row_is_skipped_but_still_checked_for_its_wallet():
    assert parse_activity(WALLET, [trade(type="MAKER_REBATE", price=0, side="")]) == []
    with pytest.raises(SourceError, match="not the watched wallet"):
        parse_activity(WALLET, [trade(type="MAKER_REBATE", proxyWallet=OTHER)])


def transfer(**changes):
    row = {"hash": TX, "blockNumber": "100", "timeStamp": "1777091978", "tokenID": "11", "tokenValue": "1000000",
           "from": OTHER, "to": WALLET, "contractAddress": "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"}  # fmt: skip
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


USDC = {"hash": TX, "contractAddress": "0x2791bca1f2de4661ed88a30c99a7a9449aa84174", "value": "420000",
        "tokenDecimal": "6", "from": WALLET, "to": OTHER}  # fmt: skip


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (transfer(hash=...), "hash is not a transaction hash"),
        (transfer(hash="0x12"), "hash is not a transaction hash"),
        (transfer(tokenValue="nan"), "tokenValue is not a whole number"),
        (transfer(tokenValue="-5"), "tokenValue is not a whole number"),
        (transfer(tokenValue=str(10**30)), "tokenValue is beyond what an amount can hold"),
        (transfer(to="me"), "to is not an address"),
        (transfer(blockNumber="1e9"), "blockNumber is not a whole number"),
        (transfer(timeStamp="-1"), "timeStamp is out of range"),
    ],
)
def test_every_malformed_etherscan_row_is_refused_by_name(row, field):
    with pytest.raises(SourceError, match=re.escape(field)):
        join_fills(WALLET, [row], [USDC])


def test_a_good_etherscan_row_still_prices():
    (fill,) = join_fills(WALLET, [transfer()], [USDC])
    assert (fill.side, str(fill.size), str(fill.price)) == ("buy", "1", "0.420000")


@pytest.fixture
def api(settings):
    settings.POLYMARKET_DATA_API_URL = API
    settings.ETHERSCAN_API_URL = f"{API}/v2/api"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_endless_v2_cursors_are_capped_and_the_next_scan_goes_on_from_there(api, settings):
    settings.WALLET_SCAN_MAX_PAGES = 5
    now = int(time.time())
    pages = {"n": 0}

    def page(request):
        pages["n"] += 1
        n = pages["n"]
        body = {"data": [trade(timestamp=now - 100 + n, size=n)], "pagination": {"next_cursor": f"c{n}"}}
        import json

        return 200, {}, json.dumps(body)

    api.add_callback(responses.GET, f"{API}/v2/activity", callback=page)
    source = source_for("polymarket_v2")
    result = source.scan(WALLET, f"ts:{now - 101}", lambda keys: set())
    assert pages["n"] == 5  # the budget, not forever
    assert len(result.trades) == 5
    assert result.cursor == f"ts:{now - 100 + 5 - 1}"  # the last second read whole


def test_a_second_holding_more_than_the_api_pages_is_an_error_not_a_loop(api, settings):
    settings.WALLET_SCAN_MAX_PAGES = 1000
    row = trade(timestamp=1777091978)
    api.add(responses.GET, f"{API}/activity", json=[row] * 500)
    source = source_for("polymarket")
    with pytest.raises(SourceError, match="more than 10000 fills at 1777091978"):
        source.scan(WALLET, "ts:1777091978", lambda keys: set())
    assert source.calls <= 40  # two windows of 20 pages: the overlap's, then the one that cannot move on


def test_a_block_holding_more_than_etherscan_pages_is_an_error_not_a_loop(api, settings):
    settings.WALLET_SCAN_MAX_PAGES = 1000
    api.add(responses.GET, f"{API}/v2/api", json={"status": "1", "message": "OK", "result": [transfer()] * 1000})
    source = source_for("etherscan")
    with pytest.raises(SourceError, match="more than 10000 token1155tx rows in block 100"):
        source.scan(WALLET, "block:130", lambda keys: set())


def test_an_oversized_answer_is_refused(api, settings):
    settings.WALLET_SCAN_MAX_BYTES = 10_000
    api.add(responses.GET, f"{API}/activity", json=[trade()] * 100)
    with pytest.raises(SourceError, match="larger than 10000 bytes"):
        source_for("polymarket").scan(WALLET, "ts:1777091978", lambda keys: set())


@pytest.mark.parametrize(("header", "low", "high"), [("7", 7, 7), ("86400", 300, 300), ("date", 25, 31)])
def test_retry_after_is_seconds_or_an_http_date_and_capped(api, header, low, high):
    if header == "date":
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    api.add(responses.GET, f"{API}/activity", status=429, headers={"Retry-After": header})
    with pytest.raises(SourceRateLimited) as limited:
        source_for("polymarket").scan(WALLET, "ts:1777091978", lambda keys: set())
    assert low <= limited.value.retry_after <= high
