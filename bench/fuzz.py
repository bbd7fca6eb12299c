"""The API fuzz run: schemathesis against a live server of the project, every operation, stateful phase included.

`live_platform(env, port)` starts the web server (gunicorn, the command `make run` uses) and the simulator that
feeds the paper venue, on whatever database and Redis `env` names, with throttling lifted for the run.
`seed()` puts a row behind every detail route (the demo account, a strategy, a position, a wallet and its
trades…), so operations on ids reach real rows. `fuzz(...)` runs the schemathesis CLI and reads its reports:
the cases it generated, and every response of 500 or more the server gave.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from bench.common import Service, wait_until

D = Decimal
ACCOUNT = "paper"
STRATEGY = "optimized_strategy"  # configs/strategies/optimized_strategy.yaml


def live_platform(env: dict, port: int) -> list[Service]:
    """The web server and the simulator, started and ready; stop them with `.stop()` each."""
    env = {**env, "API_THROTTLE_USER": "100000000/min", "API_THROTTLE_ANON": "100000000/min",
           "HEALTH_THROTTLE": "100000000/min", "LOG_LEVEL": "WARNING"}  # fmt: skip
    python = Path(sys.executable)
    simulator = Service("fuzz-simulator", [str(python), "manage.py", "run_simulator", "--exchange", ACCOUNT,
                                           "--interval", "1"], ready="simulating", env=env)  # fmt: skip
    web = Service("fuzz-web", [str(python.parent / "gunicorn"), "tradingsite.wsgi", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--threads", "4", "--log-level", "info"],
                  ready="Booting worker", env=env)  # fmt: skip
    started = []
    try:
        for service in (simulator, web):
            started.append(service.start())
    except Exception:
        for service in started:
            service.stop()
        raise
    import requests

    if not wait_until(lambda: _answers(requests, port), timeout=30):
        for service in started:
            service.stop()
        raise RuntimeError(f"the web server on port {port} did not answer; see {web.log}")
    return started


def _answers(requests, port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def prepare() -> None:
    """The demo paper account and a strategy on it (before the processes start: the simulator needs them)."""
    from django.core.management import call_command

    quiet = open(os.devnull, "w")  # noqa: SIM115
    call_command("setup_demo", stdout=quiet)
    call_command("load_strategy", str(settings.BASE_DIR / "configs" / "strategies" / "optimized_strategy.yaml"),
                 stdout=quiet)  # fmt: skip


def seed() -> dict[str, int]:
    """A row for every detail route (after `prepare` and with the simulator running); the id for each route prefix."""
    from cycles.models import Cycle, CycleLeg, Reservation, Strategy
    from exchanges.marketdata import MarketDataSnapshot
    from exchanges.models import Exchange, Market
    from orders.models import Fill, Order
    from positions.models import Position, PositionEvent
    from wallets.models import CopyTrade, WalletTrade, WatchedWallet

    exchange = Exchange.objects.get(name=ACCOUNT)
    assert wait_until(lambda: MarketDataSnapshot(ACCOUNT).ticker("BTCUSDT") is not None, timeout=30), "no market"
    from positions.opening import position_open

    if not Position.objects.filter(exchange=exchange).exists():
        ask = MarketDataSnapshot(ACCOUNT).ticker("BTCUSDT").ask
        position_open(
            exchange=exchange,
            symbol="BTCUSDT",
            amount=D("0.001"),
            stop_loss=(ask * D("0.9")).quantize(D("0.01")),
            take_profits=[((ask * D("1.2")).quantize(D("0.01")), D("1"))],
            requested_by="fuzz seed",
        )
    wallet = WatchedWallet.objects.filter(address="0x6A72f61820b26b1fe4d956E17B6DC2A1Ea3033EE").first()
    if wallet is None:
        from wallets.services import wallet_create

        wallet = wallet_create(address="0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee", label="fuzz seed")
    trade = WalletTrade.objects.filter(wallet=wallet).first()
    if trade is None:
        from django.utils import timezone

        trade = WalletTrade.objects.create(
            wallet=wallet, dedup_key="fuzz-seed", tx_hash="0x" + "ab" * 32, traded_at=timezone.now(),
            market="m", asset="a", side="buy", price=D("0.5"), size=D("10"))  # fmt: skip
        CopyTrade.objects.create(wallet_trade=trade, status="SKIPPED", reason="seed row for the fuzz run")
    strategy = Strategy.objects.get(name=STRATEGY)
    if not Reservation.objects.filter(strategy=strategy).exists():
        from cycles.reservations import cycle_reserve

        cycle_reserve(strategy_id=strategy.pk)
    firsts = {
        "exchanges": exchange.pk, "markets": Market.objects.filter(exchange=exchange).first().pk,
        "strategies": strategy.pk, "reservations": Reservation.objects.filter(strategy=strategy).first().pk,
        "positions": Position.objects.filter(exchange=exchange).first().pk, "wallets": wallet.pk,
        "wallet-trades": trade.pk, "copy-trades": CopyTrade.objects.filter(wallet_trade=trade).first().pk,
    }  # fmt: skip
    for prefix, model in (("orders", Order), ("fills", Fill), ("position-events", PositionEvent),
                          ("cycles", Cycle), ("cycle-legs", CycleLeg)):  # fmt: skip
        row = model.objects.order_by("pk").first()
        if row is not None:
            firsts[prefix] = row.pk
    return firsts


def operator_token() -> str:
    """A fresh API token for a superuser of the fuzz run (knox: stored hashed)."""
    from django.contrib.auth import get_user_model
    from knox.models import AuthToken

    user, _ = get_user_model().objects.get_or_create(username="fuzz-operator",
                                                     defaults={"is_staff": True, "is_superuser": True})  # fmt: skip
    return AuthToken.objects.create(user=user)[1]


def _config(ids: dict[str, int]) -> str:
    """schemathesis.toml: each detail route's `{id}` set to a row that exists."""
    lines = []
    for prefix, pk in sorted(ids.items()):
        pattern = f"^/api/{prefix}/\\\\{{id\\\\}}/"  # TOML-escaped regex: ^/api/<prefix>/\{id\}/
        lines += ["[[operations]]", f'include-path-regex = "{pattern}"', f"parameters = {{ id = {pk} }}", ""]
    return "\n".join(lines)


def fuzz(*, port: int, token: str, ids: dict[str, int], max_examples: int, seed: int, workers: int = 2,
         phases: str = "coverage,fuzzing,stateful", max_time: float | None = None) -> dict:  # fmt: skip
    """Run schemathesis against the server; the cases generated and the server errors seen."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "schemathesis.toml").write_text(_config(ids))
        command = [
            str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(tmp_path / "schemathesis.toml"),
            "run", f"http://127.0.0.1:{port}/api/schema/", "-H", f"Authorization: Token {token}",
            "--checks", "not_a_server_error", "--phases", phases, "-n", str(max_examples),
            "--workers", str(workers), "--seed", str(seed), "--no-color", "--suppress-health-check", "all",
            "--generation-database", "none", "--report", "json,ndjson",
            "--report-json-path", str(tmp_path / "run.json"), "--report-ndjson-path", str(tmp_path / "run.ndjson"),
        ]  # fmt: skip
        if max_time:
            command += ["--max-time", str(int(max_time))]
        started = time.monotonic()
        result = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=3600, check=False)
        elapsed = time.monotonic() - started
        if not (tmp_path / "run.json").exists():
            raise RuntimeError(f"schemathesis did not run: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        report = json.loads((tmp_path / "run.json").read_text())
        server_errors = _server_errors(tmp_path / "run.ndjson")
    return {
        "fuzz_cases": report["test_cases"]["generated"],
        "fuzz_server_errors": len(server_errors),
        "fuzz_server_error_samples": server_errors[:5],
        "fuzz_operations": report["operations"]["tested"],
        "fuzz_failures": [f["title"] + ": " + ", ".join(f.get("operations", [])) for f in report["failures"]],
        "fuzz_errors": len(report.get("errors", [])),
        "fuzz_seconds": round(elapsed, 1),
    }


def _server_errors(ndjson: Path) -> list[str]:
    """Every response of 500 or more in the run's events, as 'METHOD path -> status'."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            response, request = node.get("response"), node.get("request")
            if isinstance(response, dict) and isinstance(request, dict) and response.get("status_code", 0) >= 500:
                found.append(
                    f"{request.get('method')} {str(request.get('uri', ''))[:160]} -> {response['status_code']}"
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in ndjson.read_text().splitlines():
        walk(json.loads(line))
    return sorted(set(found))
