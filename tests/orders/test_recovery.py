"""Order recovery (orders.recovery): every order of an account brought to what the venue says; a dry run changes
nothing; an order that cannot be reconciled is named for an operator and the others go on."""

from decimal import Decimal

import pytest

from exchanges.errors import VenueUnavailable
from orders import recovery
from orders.models import Order, OrderStatus
from orders.recovery import Finding, orders_recover, orders_repair_totals
from orders.services import order_place
from tests.factories import FillFactory, OrderFactory

D = Decimal
S = OrderStatus


class Report:
    def __init__(self) -> None:
        self.findings: list[tuple[Finding, bool]] = []

    def add(self, finding: Finding, found: bool = True) -> None:
        self.findings.append((finding, found))

    def actions(self) -> list[tuple[str, str]]:
        return [(f.action, f.reason) for f, _ in self.findings]


def _recover(paper, venue, report, **kwargs):
    return orders_recover(exchanges=[paper.exchange], live=Order.objects.filter(exchange=paper.exchange),
                          venue_for=lambda exchange: venue, add=report.add, progress=lambda *a: None,
                          **{"dry_run": False, "wait_s": 0.0, **kwargs})  # fmt: skip


@pytest.fixture
def resting(paper, btc, venue):
    return order_place(exchange=paper.exchange, market=btc, side="buy", type="limit", amount=D("0.5"),
                       price=D("59000"), purpose="manual", intent="rest", venue=venue)  # fmt: skip


def test_a_dry_run_says_what_it_would_repair_and_check_and_changes_nothing(paper, btc, venue, resting):
    wrong = OrderFactory(exchange=paper.exchange, market=btc, status=S.FILLED, amount=D(1), filled=D("0.2"))
    FillFactory(order=wrong, amount=D("0.5"))
    report = Report()
    orders_repair_totals(orders=Order.objects.filter(exchange=paper.exchange), dry_run=True, add=report.add)
    counts = _recover(paper, venue, report, dry_run=True)
    assert report.actions() == [
        ("repaired", "filled 0.200000000000000000 would become 0.500000000000000000 (fills)"),
        ("reconciled", "OPEN: would be checked with the venue"),
    ]
    assert report.findings[1][1] is False  # a check to come is not a finding
    assert (counts.reconciled, counts.adopted) == (0, 0)
    wrong.refresh_from_db()
    assert wrong.filled == D("0.2")


def test_the_totals_are_repaired_from_the_fills(paper, btc):
    wrong = OrderFactory(exchange=paper.exchange, market=btc, status=S.FILLED, amount=D(1), filled=D("0.2"))
    FillFactory(order=wrong, amount=D("0.5"), cost=D("30000"))
    report = Report()
    orders_repair_totals(orders=Order.objects.filter(exchange=paper.exchange), dry_run=False, add=report.add)
    wrong.refresh_from_db()
    assert (wrong.filled, wrong.cost, wrong.average) == (D("0.5"), D("30000"), D("60000"))
    assert report.actions() == [
        ("repaired", "filled was 0.200000000000000000; its fills add up to 0.500000000000000000")
    ]


def test_an_order_that_cannot_be_reconciled_is_named_and_the_others_go_on(paper, btc, venue, resting, monkeypatch):
    other = order_place(exchange=paper.exchange, market=btc, side="buy", type="limit", amount=D("0.1"),
                        price=D("58000"), purpose="manual", intent="rest2", venue=venue)  # fmt: skip
    paper.cancel_order(symbol="BTCUSDT", order_id=other.exchange_order_id)  # canceled on the venue, still OPEN here
    reconcile = recovery.order_reconcile

    def broken_for_the_first(*, order_id, venue):
        if order_id == resting.pk:
            raise RuntimeError("a poisoned row")
        return reconcile(order_id=order_id, venue=venue)

    monkeypatch.setattr(recovery, "order_reconcile", broken_for_the_first)
    report = Report()
    counts = _recover(paper, venue, report)
    assert ("operator", "could not be reconciled: RuntimeError: a poisoned row") in report.actions()
    other.refresh_from_db()
    resting.refresh_from_db()
    assert other.status == S.CANCELED
    assert counts.reconciled == 1
    assert resting.last_error.startswith("recovery: ")


def test_an_unknown_order_the_venue_cannot_be_asked_about_waits(paper, btc, venue, monkeypatch):
    lost = OrderFactory(exchange=paper.exchange, market=btc, status=S.UNKNOWN, client_order_id="ts-lost-a1",
                        intent="lost", amount=D("0.1"))  # fmt: skip

    def unavailable(*, order_id, venue):
        raise VenueUnavailable("paper-test: HTTP 503")

    monkeypatch.setattr(recovery, "order_reconcile", unavailable)
    report = Report()
    _recover(paper, venue, report)
    assert report.actions()[0] == ("waiting", "UNKNOWN: the venue has not confirmed it yet (looking)")
    lost.refresh_from_db()
    assert lost.status == S.UNKNOWN
