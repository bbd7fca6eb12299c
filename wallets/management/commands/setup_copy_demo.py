"""manage.py setup_copy_demo: the outcome-token paper account and the sample wallets watched and copied on it."""

from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.cli import positive_decimal
from wallets.clob_demo import clob_account
from wallets.demo import outcome_account
from wallets.models import WatchedWallet
from wallets.services import wallet_create
from wallets.simulated import demo_wallets, sample_outcomes

LADDER = [{"pct": 10, "fraction": 0.5}, {"pct": 25, "fraction": 0.5}]


class Command(BaseCommand):
    help = "Create the copy-trading demo: a paper account for the sample outcome tokens, and the sample wallets."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", default="polymarket-paper")
        parser.add_argument("--usdc", type=positive_decimal, default=Decimal("10000"), help="the account's USDC")
        parser.add_argument("--clob-url", default="", help="copy on the polymarket-clob account at this CLOB V2 "
                            "emulator (run_wallet_sources --clob-port) instead of the paper account")  # fmt: skip

    def handle(self, *args, exchange: str, usdc: Decimal, clob_url: str, **options):
        directory = settings.SHARED_DATA_DIR / "polymarket"
        outcomes = sample_outcomes(directory)
        if not outcomes:
            raise CommandError(f"No Polymarket samples under {directory} (SHARED_DATA_DIR).")
        account, created = outcome_account(exchange, outcomes, usdc=usdc)
        self.stdout.write(f"copy account {exchange} {'created' if created else 'ready'} "
                          f"({len(outcomes)} outcome markets)")  # fmt: skip
        if clob_url:
            account, created = clob_account(clob_url)
            self.stdout.write(f"copies go to {account.name} ({'created' if created else 'ready'}) at {clob_url}")
        WatchedWallet.objects.filter(address__in=[a for a, _, _ in demo_wallets(directory)]).exclude(
            copy_exchange=account
        ).update(copy_exchange=account)  # the demo's wallets copy on the account chosen this time
        for address, label, source in demo_wallets(directory):
            if WatchedWallet.objects.filter(address=address).exists():
                continue
            wallet_create(address=address, label=label, source=source, copy_exchange=account, copy_enabled=True,
                          risk_pct=Decimal(1), stop_loss_pct=Decimal(10), max_position_size=Decimal(200),
                          take_profit_ladder=LADDER)  # fmt: skip
            self.stdout.write(f"watching {label} {address} through {source}")
