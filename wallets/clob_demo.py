"""The copy demo on a real `polymarket` venue: the CLOB V2 emulator (bench/clob_emulator.py) serving the simulated
chain's outcome tokens, so copies are signed (EIP-712 V2), posted and filled through PolymarketVenue and the
official SDK, every signature checked by the emulator as the CLOB would.

`setup_copy_demo --clob-url URL` makes the account (`polymarket-clob`, a generated key, EOA) and points the demo
wallets' copies at it; `run_wallet_sources --clob-port PORT` serves the emulator beside the simulated wallet
sources, funds the account, loads its markets and keeps the market maker's quotes around the prices the wallets
trade at. `make run` keeps the paper account unless COPY_DEMO_VENUE=clob.
"""

import logging
import secrets
from decimal import Decimal

from exchanges.models import Exchange, ExchangeKind, SignatureType
from exchanges.services import markets_sync

from .simulated import SimulatedChain

log = logging.getLogger(__name__)
ACCOUNT = "polymarket-clob"
DEPTH = 2_000  # shares at each of the market maker's two levels a side
SPREAD = Decimal("0.01")


def clob_account(url: str, name: str = ACCOUNT) -> tuple[Exchange, bool]:
    """The demo's Polymarket account on the emulator at `url` (its signing key made once, stored encrypted)."""
    exchange = Exchange.objects.filter(name=name).first()
    if exchange is not None:
        if exchange.rest_url != url:
            Exchange.objects.filter(pk=exchange.pk).update(rest_url=url)
        return exchange, False
    exchange = Exchange.objects.create(name=name, kind=ExchangeKind.POLYMARKET, rest_url=url,
                                       private_key="0x" + secrets.token_hex(32),
                                       signature_type=SignatureType.EOA)  # fmt: skip
    return exchange, True


class ClobDemo:
    """The emulator for `chain`'s tokens on `port`, the account funded with `pusd`, quotes kept near the chain."""

    def __init__(self, chain: SimulatedChain, account: Exchange, *, port: int, pusd: Decimal) -> None:
        from eth_account import Account

        from bench.clob_emulator import ClobEmulator, Token

        self.chain, self.account = chain, account
        tokens = [Token(o.asset, market=o.condition_id) for o in chain.outcomes]
        self.emulator = ClobEmulator(tokens=tokens, port=port)
        if account.rest_url != self.emulator.url:  # a free port was taken (port 0)
            account.rest_url = self.emulator.url
            Exchange.objects.filter(pk=account.pk).update(rest_url=account.rest_url)
        self.requote()
        self.emulator.fund(Account.from_key(account.private_key).address, pusd=pusd)

    @property
    def url(self) -> str:
        return self.emulator.url

    def sync_markets(self) -> int:
        """The account's outcome markets as the emulator lists them (tick, minimum size), through the venue."""
        from exchanges.polymarket import PolymarketVenue

        venue = PolymarketVenue(self.account)
        infos = [info for o in self.chain.outcomes if (info := venue.market_info(o.asset)) is not None]
        markets_sync(exchange=self.account, markets=infos)
        return len(infos)

    def requote(self) -> None:
        """Two levels a side around each token's last chain price, on the tick, inside (0, 1)."""
        for o in self.chain.outcomes:
            mid = Decimal(str(self.chain.prices.get(o.asset, o.price))).quantize(SPREAD)
            bid, ask = max(SPREAD, mid - SPREAD), min(1 - SPREAD, mid + SPREAD)
            levels = [("BUY", bid, DEPTH), ("BUY", max(SPREAD, bid - SPREAD), DEPTH),
                      ("SELL", ask, DEPTH), ("SELL", min(1 - SPREAD, ask + SPREAD), DEPTH)]  # fmt: skip
            self.emulator.requote(o.asset, levels)

    def close(self) -> None:
        self.emulator.close()
