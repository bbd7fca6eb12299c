"""Wallet sources: the recorded Polymarket payloads parsed exactly; Etherscan envelopes, joins and limits."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from wallets.sources import SourceDailyLimit, SourceError, SourceRateLimited, source_for
from wallets.sources.etherscan import join_fills, unwrap
from wallets.sources.polymarket import parse_activity

D = Decimal
pytestmark = pytest.mark.django_db  # the rate limiter's buckets live in the test Redis


def test_the_recorded_activity_is_parsed_exactly(shared_data):
    rows = json.loads((shared_data / "polymarket" / "activity_wallet_b.json").read_text())
    trades = parse_activity(rows[0]["proxyWallet"], rows)
    assert len(trades) == 10  # every row of sample b is a TRADE
    first = trades[0]
    assert first.side == "buy"
    assert first.size == D("714.285713")
    assert first.price == D("0.860000001148")
    assert first.asset == "31580298928034717121287201018973507946553544207612680382558768593005033869136"
    assert first.market == "0x0044717447f885ed54508627145cbf1ac113566c79af55428175f6d0c776949c"
    assert first.title == "Oilers vs. Ducks"
    assert first.traded_at == datetime.fromtimestamp(1777091978, tz=UTC)
    assert first.tx_hash == "0x9dd247e60766470f2bd031529ad78ad72c1bfd979a783c811077f437593d97bd"
    assert len({t.dedup_key for t in trades}) == 10


def test_rewards_rebates_and_redeems_are_not_trades(shared_data):
    rows = json.loads((shared_data / "polymarket" / "activity_wallet_a.json").read_text())
    trades = parse_activity(rows[0]["proxyWallet"], rows)
    assert len(trades) == sum(1 for r in rows if r["type"] == "TRADE") == 42
    assert {t.side for t in trades} <= {"buy", "sell"}


def test_identical_fills_in_one_transaction_stay_separate_fills(shared_data):
    row = json.loads((shared_data / "polymarket" / "activity_wallet_b.json").read_text())[0]
    trades = parse_activity(row["proxyWallet"], [row, dict(row), dict(row, size=1.5)])
    assert len({t.dedup_key for t in trades}) == 3
    assert [t.dedup_key.rsplit(":", 1)[1] for t in trades] == ["0", "1", "0"]


WALLET = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"
OTHER = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"


def transfer(tx, token, to_wallet, value, block=100):
    return {"hash": tx, "blockNumber": str(block), "timeStamp": "1777091978", "tokenID": token,
            "tokenValue": str(value), "from": OTHER if to_wallet else WALLET, "to": WALLET if to_wallet else OTHER,
            "contractAddress": "0x4d97dcd97ec945f40cf65f87097ace5ea0476045", "tokenName": ""}  # fmt: skip


def usdc(tx, paid_by_wallet, value):
    payer, payee = (WALLET, OTHER) if paid_by_wallet else (OTHER, WALLET)
    return {"hash": tx, "contractAddress": "0x2791bca1f2de4661ed88a30c99a7a9449aa84174", "value": str(value),
            "tokenDecimal": "6", "from": payer, "to": payee}  # fmt: skip


TX_A, TX_B, TX_C = ("0x" + c * 64 for c in "abc")


def test_a_transaction_with_several_fills_gives_several_trades_priced_by_its_usdc():
    fills = join_fills(
        WALLET,
        [transfer(TX_A.upper().replace("0X", "0x"), "11", True, 100_000_000), transfer(TX_A, "22", True, 50_000_000),
         transfer(TX_B, "11", False, 10_000_000), transfer(TX_C, "33", True, 5_000_000)],
        [usdc(TX_A, True, 90_000_000), usdc(TX_B, False, 7_000_000)],  # TX_C moved no USDC: not a trade
    )  # fmt: skip
    assert [(t.tx_hash, t.asset, t.side, t.size, t.price) for t in fills] == [
        (TX_A, "11", "buy", D(100), D("0.6")), (TX_A, "22", "buy", D(50), D("0.6")),
        (TX_B, "11", "sell", D(10), D("0.7")),
    ]  # fmt: skip
    assert len({t.dedup_key for t in fills}) == 3


def test_etherscan_envelopes():
    assert unwrap({"status": "1", "message": "OK", "result": [{"a": 1}]}) == [{"a": 1}]
    assert unwrap({"status": "0", "message": "No transactions found", "result": []}) == []
    with pytest.raises(SourceRateLimited):
        unwrap({"status": "0", "message": "NOTOK", "result": "Max rate limit reached, please use API Key"})
    with pytest.raises(SourceDailyLimit) as daily:
        unwrap({"status": "0", "message": "NOTOK", "result": "Max daily limit reached. Please upgrade your plan"})
    assert daily.value.until.hour == 0
    with pytest.raises(SourceError, match="Invalid address"):
        unwrap({"status": "0", "message": "NOTOK", "result": "Error! Invalid address format"})


@pytest.mark.parametrize("kind", ["polymarket", "polymarket_v2", "etherscan"])
def test_each_source_reads_the_simulated_chain_incrementally(kind, sim, chain):
    source = source_for(kind)
    start = source.present_cursor(WALLET)
    stored: set[str] = set()
    idle = source.scan(WALLET, start, lambda keys: stored & set(keys))
    assert idle.trades == []
    chain.trade(WALLET, side="BUY", size=40.0, price=0.5, fills=3)
    calls = source.calls
    found = source.scan(WALLET, start, lambda keys: stored & set(keys))
    assert [(t.side, t.size, t.price) for t in found.trades] == [("buy", D(40), D("0.5"))] * 3
    assert len({t.dedup_key for t in found.trades}) == 3
    stored |= {t.dedup_key for t in found.trades}
    calls = source.calls
    again = source.scan(WALLET, found.cursor, lambda keys: stored & set(keys))
    assert {t.dedup_key for t in again.trades} <= stored  # the overlap re-reads, the keys say it is known
    assert source.calls - calls == 1  # an idle wallet costs one call


def test_a_rate_limited_etherscan_backs_off_and_a_spent_day_stops_the_source(sim):
    source = source_for("etherscan")
    cursor = source.present_cursor(WALLET)
    sim.faults["etherscan"].extend(["rate_limit"])
    with pytest.raises(SourceRateLimited):
        source.scan(WALLET, cursor, lambda keys: set())
    sim.faults["etherscan"].extend(["daily"])
    with pytest.raises(SourceDailyLimit):
        source.scan(WALLET, cursor, lambda keys: set())


PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"  # docs.polymarket.com/resources/contracts
V2_TS = "1780000000"  # 2026-05-28: after the CLOB V2 cutover (2026-04-28)


def collateral(tx, paid_by_wallet, value, contract=PUSD):
    return usdc(tx, paid_by_wallet, value) | {"contractAddress": contract}


def test_fills_since_the_v2_cutover_are_priced_by_their_pusd_legs_exactly():
    fills = join_fills(
        WALLET,
        [transfer(TX_A, "11", True, 125_000_000) | {"timeStamp": V2_TS},
         transfer(TX_B, "11", False, 40_000_000) | {"timeStamp": V2_TS}],
        [collateral(TX_A, True, 77_500_000),
         collateral(TX_A, True, 77_500_000, contract="0x2791bca1f2de4661ed88a30c99a7a9449aa84174"),  # a wrap, not paid
         collateral(TX_B, False, 25_200_000)],
    )  # fmt: skip
    assert [(t.tx_hash, t.side, t.size, t.price) for t in fills] == [
        (TX_A, "buy", D(125), D("0.62")), (TX_B, "sell", D(40), D("0.63")),
    ]  # fmt: skip


def test_a_v2_era_fill_with_only_usdc_e_and_a_v1_era_fill_with_only_pusd_are_not_priced():
    fills = join_fills(
        WALLET,
        [transfer(TX_A, "11", True, 10_000_000) | {"timeStamp": V2_TS}, transfer(TX_B, "11", True, 10_000_000)],
        [usdc(TX_A, True, 5_000_000), collateral(TX_B, True, 5_000_000)],
    )
    assert fills == []


def test_one_pusd_leg_against_two_tokens_is_priced_per_token_by_the_wallets_order_filled_logs():
    from wallets.sources.orderfilled import log_of

    rows = [transfer(TX_A, "11", True, 100_000_000) | {"timeStamp": V2_TS},
            transfer(TX_A, "22", True, 100_000_000) | {"timeStamp": V2_TS}]  # fmt: skip
    cash = [collateral(TX_A, True, 100_000_000)]  # 100 pUSD for both: 0.30 and 0.70 a share in fact
    pro_rata = join_fills(WALLET, rows, cash)
    assert {t.price for t in pro_rata} == {D("0.5")}  # one average: wrong for each token
    logs = [
        log_of(
            tx=TX_A,
            log_index=1,
            block=100,
            maker=WALLET,
            taker=OTHER,
            side="buy",
            token="11",
            shares=100_000_000,
            cash=30_000_000,
        ),
        log_of(
            tx=TX_A,
            log_index=2,
            block=100,
            maker=WALLET,
            taker=OTHER,
            side="buy",
            token="22",
            shares=100_000_000,
            cash=70_000_000,
        ),
        log_of(
            tx=TX_A,
            log_index=3,
            block=100,
            maker=OTHER,
            taker=WALLET,
            side="sell",
            token="11",
            shares=100_000_000,
            cash=30_000_000,
        ),
    ]  # the counterparty's order: not the wallet's fill
    priced = join_fills(WALLET, rows, cash, logs)
    assert sorted((t.asset, t.price) for t in priced) == [("11", D("0.3")), ("22", D("0.7"))]


def test_the_etherscan_scan_asks_for_the_logs_only_for_an_ambiguous_transaction(sim, chain):
    from wallets.simulated import Fill

    source = source_for("etherscan")
    cursor = source.present_cursor(WALLET)
    chain.trade(WALLET, side="BUY", size=10.0, price=0.5)
    plain = source.scan(WALLET, cursor, lambda keys: set())
    assert len(plain.trades) == 1
    assert sim.calls["etherscan:getLogs"] == 0
    first = chain.trade(WALLET, outcome=chain.outcomes[0], side="BUY", size=20.0, price=0.25)[0]
    with chain._lock:  # a second token bought in the same transaction
        chain.fills.append(Fill(first.wallet, first.ts, first.block, first.tx, chain.outcomes[1], "BUY", D(20),
                                D("0.75"), first.appeared_at))  # fmt: skip
    result = source.scan(WALLET, plain.cursor, lambda keys: set())
    assert sim.calls["etherscan:getLogs"] == 1
    ours = sorted((t.asset, t.price) for t in result.trades if t.tx_hash == first.tx)
    assert ours == sorted([(chain.outcomes[0].asset, D("0.25")), (chain.outcomes[1].asset, D("0.75"))])
