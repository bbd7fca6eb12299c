"""The cycle's leg ledger and next step, pure: no database, no venue (a fake sizing answers)."""

from decimal import Decimal

from cycles.ledger import Action, Attempt, Leg, Sized, next_step

D = Decimal
# USDT -> BTC -> ETH -> USDT
LEGS = [
    Leg(0, "buy", "BTC", "USDT", D(10)),
    Leg(1, "buy", "ETH", "BTC", D("0.0001")),
    Leg(2, "sell", "ETH", "USDT", D(10)),
]


def step(attempts, *, sized=None, max_attempts=3):
    asked = []

    def size(leg, left):
        asked.append((leg.index, left))
        if sized:
            return sized(leg, left)
        return Sized(True, left) if left > 0 else Sized(False, reason="under the market's minimum amount")

    result = next_step(start_asset="USDT", start_amount=D(1000), legs=LEGS, attempts=attempts,
                       max_attempts=max_attempts, size=size)  # fmt: skip
    return result, asked


def done(spent, received, status="FILLED"):
    return Attempt(D(spent), D(received), True, status)


def test_a_new_cycle_places_its_first_leg_with_what_it_starts_with():
    result, asked = step([[], [], []])
    assert (result.action, result.leg.index, result.attempt, result.amount) == (Action.PLACE, 0, 1, D(1000))
    assert (result.held_asset, result.held) == ("USDT", D(1000))
    assert asked == [(0, D(1000))]


def test_a_leg_with_an_order_working_waits_and_sizes_nothing():
    result, asked = step([[Attempt(D(0), D(0), False)], [], []])
    assert (result.action, result.leg.index, asked) == (Action.WAIT, 0, [])


def test_each_leg_is_sized_from_what_the_one_before_received():
    result, asked = step([[done("1000", "0.016")], [], []])
    assert (result.action, result.leg.index, result.held_asset, result.held) == (Action.PLACE, 1, "BTC", D("0.016"))
    assert asked == [(1, D("0.016"))]  # leg 1 is done: not sized again


def test_a_partly_filled_leg_places_its_rest_as_the_next_attempt():
    result, _ = step([[done("1000", "0.016")], [done("0.010", "0.2", "CANCELED")], []])
    assert (result.action, result.leg.index, result.attempt, result.left) == (Action.PLACE, 1, 2, D("0.006"))


def test_a_first_leg_that_cannot_be_sized_fails_with_the_reason():
    result, _ = step([[], [], []], sized=lambda leg, left: Sized(False, reason="the visible book is too thin"))
    assert (result.action, result.leg.index, result.why) == (Action.FAIL, 0, "leg 1: the visible book is too thin")


def test_a_leg_that_traded_nothing_in_its_attempts_fails_holding_what_it_entered_with():
    rejected = Attempt(D(0), D(0), True, "REJECTED", "insufficient balance")
    result, _ = step([[done("1000", "0.016")], [rejected] * 3, []])
    assert (result.action, result.leg.index, result.held_asset, result.held) == (Action.FAIL, 1, "BTC", D("0.016"))
    assert result.why == "leg 2 traded nothing (REJECTED: insufficient balance)"


def test_quote_dust_under_the_minimum_notional_is_a_residual_not_another_order():
    attempts = [[done("1000", "0.016")], [done("0.01599995", "0.3")], [done("0.3", "1001.2")]]
    result, asked = step(attempts)
    assert (result.action, result.held_asset, result.held) == (Action.COMPLETE, "USDT", D("1001.2"))
    assert result.pnl == D("1.2")
    assert {asset: D(amount) for asset, amount in result.residuals.items()} == {"BTC": D("0.00000005")}
    assert asked == [(2, D(0))]  # BTC dust under the minimum notional: no book read for it (the sell's rest is)
