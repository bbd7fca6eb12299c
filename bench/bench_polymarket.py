"""Polymarket figures: CLOB V2 orders through the venue against the emulator, and V2-era fill detection.

clob_orders, clob_signature_rejections, duplicate_posts
    --orders orders placed through `orders.services.order_place` (the product's path: signed, recorded with the
    signed order and its hash, then posted) on a `polymarket` account against `bench/clob_emulator.py`, which
    verifies every signature itself. A third are fill-and-kill buys, a third fill-and-kill sells of what was
    bought, a third resting limit buys that are canceled after. The emulator executes a --lose share of the posts
    (10%) and cuts the connection before answering: those orders are UNKNOWN until `order_resolve_unknown` finds
    them by their hash. `clob_orders` counts the orders the CLOB accepted, `clob_signature_rejections` its refusals
    of a signature (signer, domain, version, signature type, HMAC, API key), `duplicate_posts` the posts of an
    order it already held; `clob_orders_unaccounted` the orders whose row and the CLOB disagree at the end.
v2_fills_detected_rate
    --fills fills of a watched wallet after the CLOB V2 cutover as Etherscan lists them (the ERC-1155 transfer of
    the outcome token and the pUSD transfer the other way in the same transaction; several fills in some
    transactions, a USDC.e wrap beside the pUSD in some), joined by the Etherscan source: fills found and priced
    exactly / fills. `v2_fills_detected_rate_usdc_only` is the same sample priced the way the source did before
    (USDC.e and native USDC legs only).
detect_to_copy_ms_p50 / _p95, duplicate_copies
    bench/run.py wallets' latency part (a fill at the simulated source to its copy's order sent, one worker, the
    pollers at their default intervals) with `manage.py run_wallet_stream` on a node emulator
    (bench/polygon_node.py) serving the same fills as OrderFilled logs; then its kill part (--kills SIGKILLs of the
    worker and the stream at failpoints or at random, trading going on) with both sources on: `duplicate_copies`
    (an entry or reduce placed twice for one copy, or a venue order twice), `fills_missed`.
"""

import argparse
import random
import time
from decimal import Decimal

D = Decimal
ACCOUNT = "bench-polymarket"
TOKENS = ["71321045679252212594626385532706912750332728571942532289631379312455583992563",
          "52114319501245915516055106046884209969926127482827954674443846427813813222426"]  # fmt: skip
SIGNATURE_REFUSALS = ("refused_signature", "refused_signer", "refused_domain", "refused_version",
                      "refused_signature_type", "refused_hmac", "refused_api_key", "refused_l1")  # fmt: skip


def bench_clob_orders(orders: int, lose: float, seed: int) -> dict:
    from django.utils import timezone
    from eth_utils import keccak

    from bench.clob_emulator import ClobEmulator, Token
    from bench.common import drop_account
    from exchanges.models import Exchange, ExchangeKind, Market
    from exchanges.polymarket import PolymarketVenue
    from exchanges.registry import get_venue
    from exchanges.services import markets_sync
    from orders.actions import order_cancel
    from orders.errors import OrderRejected
    from orders.models import Order, OrderPurpose, OrderStatus
    from orders.monitoring import order_resolve_unknown
    from orders.services import order_place

    rng = random.Random(seed)
    clob = ClobEmulator(tokens=[Token(TOKENS[0]), Token(TOKENS[1], neg_risk=True)], seed=seed)
    try:
        drop_account(ACCOUNT)
        key = "0x" + keccak(text="bench-polymarket").hex()
        exchange = Exchange.objects.create(name=ACCOUNT, kind=ExchangeKind.POLYMARKET, rest_url=clob.url,
                                           private_key=key)  # fmt: skip
        venue = PolymarketVenue(exchange)
        clob.fund(venue.client.get_address(), pusd=10_000_000)
        markets_sync(exchange=exchange, markets=[venue.market_info(t) for t in TOKENS])
        markets = list(Market.objects.filter(exchange=exchange))
        venue = get_venue(exchange)
        clob.lose_answers = lose
        placed, rejected, unknown, resolved, started = 0, 0, 0, 0, time.perf_counter()
        bought = D(5)
        for n in range(orders):
            market = markets[(n // 3) % len(markets)]  # a buy, the sell of what it bought, a resting buy
            token = market.external_id
            kind = n % 3
            if kind == 0:
                clob.add_liquidity(token, "SELL", "0.55", 50)
            else:
                clob.add_liquidity(token, "BUY", "0.45", 50)
            side, type_, price = (("buy", "ioc", "0.55"), ("sell", "ioc", "0.45"), ("buy", "limit", "0.40"))[kind]
            amount = bought if kind == 1 else D(rng.choice((5, 10, 20)))
            bought = amount if kind == 0 else D(5)
            try:
                order = order_place(exchange=exchange, market=market, side=side, type=type_, amount=amount,
                                    price=D(price), purpose=OrderPurpose.MANUAL, intent=f"bench-{n}")  # fmt: skip
            except OrderRejected:
                rejected += 1
                continue
            placed += 1
            if order.status == OrderStatus.UNKNOWN:
                unknown += 1
                order = order_resolve_unknown(order=order, venue=venue, now=timezone.now())
                resolved += order.status != OrderStatus.UNKNOWN
            if kind == 2 and order.status == OrderStatus.OPEN:
                order_cancel(order_id=order.pk, requested_by="bench", venue=venue)
        seconds = time.perf_counter() - started
        rows = {o.exchange_order_id: o for o in Order.objects.filter(exchange=exchange).exclude(status="REJECTED")}
        ours = {h: o for h, o in clob.orders.items() if o.owner}
        unaccounted = len(set(rows) ^ set(ours)) + sum(
            1 for h, o in rows.items() if h in ours and o.filled != ours[h].matched
        )
        result = {
            "clob_orders": clob.stats["orders_accepted"],
            "clob_orders_placed_per_s": round(placed / seconds, 1),
            "clob_signature_rejections": sum(clob.stats[k] for k in SIGNATURE_REFUSALS),
            "clob_other_refusals": sum(
                v for k, v in clob.stats.items() if k.startswith("refused_") and k not in SIGNATURE_REFUSALS
            ),
            "duplicate_posts": clob.stats["duplicate_posts"] + sum(1 for n in clob.posts.values() if n > 1),
            "clob_answers_lost": clob.stats["answers_lost"],
            "clob_unknown_resolved_by_hash": resolved,
            "clob_unknown": unknown,
            "clob_orders_rejected": rejected,
            "clob_orders_unaccounted": unaccounted,
        }
        drop_account(ACCOUNT)
        return result
    finally:
        clob.close()


def v2_sample(fills: int, seed: int, *, wallet: str) -> tuple[list[dict], list[dict], list[tuple]]:
    """Etherscan rows of `fills` V2-era fills (token1155tx, tokentx) and what each fill is (tx, side, size, price)."""
    from django.conf import settings

    rng = random.Random(seed)
    counterparty = "0xe111180000d2663c0091e4f400237545b87b996b"  # the CTF Exchange V2 settles every fill
    pusd, usdc_e = settings.POLYGON_PUSD_CONTRACT.lower(), "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
    transfers, cash, truth = [], [], []
    ts, block, n = settings.POLYMARKET_V2_CUTOVER_TS + 3600, 86_000_000, 0
    while n < fills:
        tx = "0x" + rng.randbytes(32).hex()
        side = rng.choice(("buy", "sell"))
        price = D(rng.randint(1, 99)) / 100
        in_tx = min(fills - n, rng.choice((1, 1, 1, 2, 3)))
        total_units = 0
        for _ in range(in_tx):
            units = rng.randint(1, 500) * 10**6
            total_units += units
            token = rng.choice(TOKENS)
            transfers.append({"hash": tx, "blockNumber": str(block), "timeStamp": str(ts), "tokenID": token,
                              "tokenValue": str(units), "from": counterparty if side == "buy" else wallet,
                              "to": wallet if side == "buy" else counterparty, "tokenName": "",
                              "contractAddress": "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"})  # fmt: skip
            truth.append((tx, side, D(units) / 10**6, price))
            n += 1
        value = str(int(D(total_units) * price))
        payer, payee = (wallet, counterparty) if side == "buy" else (counterparty, wallet)
        cash.append({"hash": tx, "contractAddress": pusd, "value": value, "tokenDecimal": "6", "from": payer,
                     "to": payee})  # fmt: skip
        if rng.random() < 0.2:  # the wallet wrapped USDC.e into pUSD in the same transaction (the onramp)
            cash.append({"hash": tx, "contractAddress": usdc_e, "value": value, "tokenDecimal": "6", "from": wallet,
                         "to": "0x" + "77" * 20})  # fmt: skip
        ts, block = ts + rng.randint(2, 60), block + rng.randint(1, 30)
    return transfers, cash, truth


def bench_v2_detection(fills: int, seed: int) -> dict:
    from django.test import override_settings

    from wallets.sources.etherscan import join_fills

    wallet = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"
    transfers, cash, truth = v2_sample(fills, seed, wallet=wallet)

    def detected() -> int:
        found = {(t.tx_hash, t.side, t.size, t.price) for t in join_fills(wallet, transfers, cash)}
        return sum(1 for fill in truth if fill in found)

    ours = detected()
    with override_settings(POLYMARKET_V2_CUTOVER_TS=2**40):  # priced by USDC legs only, as before pUSD
        before = detected()
    return {"v2_fills": len(truth), "v2_fills_detected_rate": round(ours / len(truth), 4),
            "v2_fills_detected_rate_usdc_only": round(before / len(truth), 4)}  # fmt: skip


def bench_streamed_copies(wallets: int, samples: int, kills: int, seed: int, parts: set[str]) -> dict:
    """bench/run.py wallets' latency and kill parts with the wallet stream on beside the pollers."""
    from bench import bench_wallets
    from bench.common import isolated_broker
    from tradingsite.celery import app

    def log(line: str) -> None:
        print(line, flush=True)

    broker = isolated_broker()
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    bench_wallets._clean()
    result = {}
    try:
        if "latency" in parts:
            result |= bench_wallets.detect_to_copy(wallets, samples, seed, broker, log, stream=True)
            bench_wallets._clean()
        if "kills" in parts:
            isolated_broker()  # emptied again: the latency part's worker was SIGKILLed with messages unacknowledged
            # The slots of SIGKILLed workers free themselves after COPY_SLOT_LEASE_S (60 s): room to settle after.
            chaos = bench_wallets.copies_across_kills(wallets, kills, seed, broker, log, stream=True, settle_s=180.0)
            result |= {f"kills_{k}" if not k.startswith(("duplicate", "fills")) else k: v for k, v in chaos.items()}
    finally:
        bench_wallets._clean()
        app.conf.task_always_eager = eager
    return result


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py polymarket")
    parser.add_argument("--orders", type=int, default=600)
    parser.add_argument("--lose", type=float, default=0.1, help="share of posts whose answer is lost")
    parser.add_argument("--fills", type=int, default=1000)
    parser.add_argument("--wallets", type=int, default=10, help="copied wallets for the streamed-copy latency")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=12, help="SIGKILLs of the worker and the stream")
    parser.add_argument("--parts", default="orders,detection,latency,kills", help="orders, detection, latency, kills")
    args = parser.parse_args(argv)
    parts, result = set(args.parts.split(",")), {}
    if "orders" in parts:
        result |= bench_clob_orders(args.orders, args.lose, args.seed)
    if "detection" in parts:
        result |= bench_v2_detection(args.fills, args.seed)
    if parts & {"latency", "kills"}:
        result |= bench_streamed_copies(args.wallets, args.samples, args.kills, args.seed, parts)
    return result
