"""The Polymarket venue's account half: what it holds (pUSD and outcome-token balances, with the exchanges'
allowances) and what its resolved markets pay (GET /markets/{condition_id}; redeeming is on-chain). Mixed into
PolymarketVenue (exchanges/polymarket.py), whose SDK client, `_call` and `_market` these use."""

from decimal import Decimal

from .errors import NotSupported, VenueError
from .models import Market
from .parsing import to_decimal
from .types import BalanceEntry, Resolution

UNITS = Decimal(10) ** 6  # pUSD and outcome tokens: 6 decimals
COLLATERAL = "PUSD"


def _d(value, what: str) -> Decimal:
    return to_decimal(value, name="value", error=VenueError, what=f"polymarket {what}", minimum="any")


class HoldingsMixin:
    # --- resolution ----------------------------------------------------------------------------
    def _condition_of(self, token_id: str) -> str:
        """The market (condition id) an outcome token belongs to: GET /markets-by-token/{token_id}."""
        from py_clob_client_v2.endpoints import GET_MARKET_BY_TOKEN

        condition = self._conditions.get(token_id)
        if condition is None:
            raw = self._call(self.client._get, f"{self.client.host}{GET_MARKET_BY_TOKEN}{token_id}") or {}
            condition = raw.get("condition_id") or ""
            if not condition:
                raise VenueError(f"{self.name}: the CLOB names no market for token {token_id}.")
            self._conditions[token_id] = condition
        return condition

    def fetch_resolution(self, symbol: str) -> Resolution | None:
        """GET /markets/{condition_id}: resolved once `closed` and a token is the `winner` (1 for it, 0 for the
        others) or the market is `is_50_50_outcome` (0.5 each). Closed with no winner yet: trading stopped and the
        oracle has not reported, so not resolved."""
        token = self._market(symbol).external_id
        condition = self._condition_of(token)
        raw = self._call(self.client.get_market, condition) or {}
        if not raw.get("closed"):
            return None
        source = f"CLOB /markets/{condition}"
        if raw.get("is_50_50_outcome"):
            return Resolution(symbol, Decimal("0.5"), "50-50", source)
        winner = next((t for t in raw.get("tokens") or () if t.get("winner")), None)
        if winner is None:
            return None
        payout = Decimal(1) if str(winner.get("token_id")) == token else Decimal(0)
        return Resolution(symbol, payout, str(winner.get("outcome") or ""), source)

    def redeem(self, symbol: str) -> Decimal:
        """Redeeming is an on-chain call (through the CTF collateral adapter, for pUSD), not a CLOB request."""
        raise NotSupported(
            f"{self.name}: redeeming {symbol} is an on-chain transaction through Polymarket's CTF collateral adapter "
            "(docs.polymarket.com/trading/ctf/redeem), which this venue does not send; the winning tokens stay "
            "redeemable with no deadline."
        )

    # --- balances ----------------------------------------------------------------------------
    def balance_allowance(self, token_id: str | None = None) -> tuple[Decimal, dict[str, Decimal]]:
        """pUSD (or one outcome token's) balance and the allowance each exchange contract has, in units."""
        from py_clob_client_v2.clob_types import AssetType, BalanceAllowanceParams

        self._l2()
        params = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL if token_id else AssetType.COLLATERAL,
                                        token_id=token_id)  # fmt: skip
        raw = self._call(self.client.get_balance_allowance, params) or {}
        balance = _d(raw.get("balance") or 0, "balance") / UNITS
        allowances = {k: _allowance(v) for k, v in (raw.get("allowances") or {}).items()}
        return balance, allowances

    def fetch_balance(self) -> dict[str, BalanceEntry]:
        """pUSD and every followed outcome token; what open orders hold is `locked` (the CLOB reserves it)."""
        locked: dict[str, Decimal] = {}
        for o in self.fetch_open_orders():
            asset = COLLATERAL if o.side == "buy" else o.symbol[: -len(COLLATERAL)]
            rest = o.amount - o.filled
            locked[asset] = locked.get(asset, Decimal(0)) + (rest * (o.price or 0) if o.side == "buy" else rest)
        total, _ = self.balance_allowance()
        balances = {COLLATERAL: total}
        for market in Market.objects.filter(exchange=self.exchange, active=True).exclude(external_id=""):
            balances[market.base] = self.balance_allowance(market.external_id)[0]
        return {asset: BalanceEntry(asset, max(Decimal(0), amount - locked.get(asset, 0)),
                                    min(amount, locked.get(asset, Decimal(0))))
                for asset, amount in balances.items()}  # fmt: skip


def _allowance(value) -> Decimal:
    """An ERC-20 allowance in units (an unlimited approval is 2**256 - 1: beyond any amount we hold)."""
    text = str(value).strip()
    if not text.isdigit():
        raise VenueError(f"polymarket allowance: not a whole number of units ({value!r:.40})")
    return Decimal(int(text)) / UNITS
