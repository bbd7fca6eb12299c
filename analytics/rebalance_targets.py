"""Writes for an account's rebalance targets: set one (from the admin, the API or a YAML file), each problem named."""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from core.errors import DomainError
from exchanges.models import Exchange, Market

from .models import RebalanceTarget


def rebalance_target_set(
    *, exchange: Exchange, weights: dict, updated_by: str, quote: str | None = None,
    tolerance: Decimal | str | None = None, aim: Decimal | str | None = None, auto: bool | None = None,
) -> RebalanceTarget:  # fmt: skip
    """Set an account's targets (what is not given keeps its value); DomainError naming every problem."""
    quote, clean, tolerance, aim = rebalance_target_check(
        exchange=exchange, weights=weights, quote=quote, tolerance=tolerance, aim=aim
    )
    target, _ = RebalanceTarget.objects.update_or_create(
        exchange=exchange,
        defaults={"quote": quote, "weights": {a: str(w) for a, w in clean.items()}, "tolerance": tolerance,
                  "aim": aim, "updated_by": updated_by, **({} if auto is None else {"auto": bool(auto)})},
    )  # fmt: skip
    return target


def rebalance_target_check(*, exchange: Exchange, weights, quote=None, tolerance=None, aim=None) -> tuple:
    """(quote, weights, tolerance, aim) cleaned, the account's current ones where not given; DomainError else."""
    current = RebalanceTarget.objects.filter(exchange=exchange).first()
    quote = (quote or (current.quote if current else "USDT")).strip().upper()
    tolerance = _fraction("tolerance", tolerance if tolerance is not None else current.tolerance if current else "0.02")
    aim = _fraction("aim", aim if aim is not None else current.aim if current else "0.5")
    problems = []
    if not Decimal(0) < tolerance <= Decimal("0.5"):
        problems.append(f"the tolerance is above 0 and at most 0.5, not {tolerance}")
    if not Decimal(0) <= aim <= Decimal("0.9"):
        problems.append(f"the aim is between 0 and 0.9, not {aim}")
    clean = _weights(weights, quote, problems)
    active = Market.objects.filter(exchange=exchange, active=True)
    traded = set(active.values_list("base", flat=True)) | set(active.values_list("quote", flat=True))
    unknown = sorted(a for a in {*clean, quote} if a not in traded)
    if unknown:
        problems.append(f"{exchange.name} has no market trading {', '.join(unknown)}")
    if problems:
        raise DomainError("Targets refused: " + "; ".join(problems) + ".")
    return quote, clean, tolerance, aim


def _fraction(name: str, value) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise DomainError(f"Targets refused: the {name} must be a number, not {value!r}.")
    return number


def _weights(weights, quote: str, problems: list[str]) -> dict[str, Decimal]:
    if not isinstance(weights, dict) or not weights:
        problems.append("the weights are a mapping of asset to weight, with at least one asset")
        return {}
    clean: dict[str, Decimal] = {}
    for asset, weight in weights.items():
        code = str(asset).strip().upper()
        try:
            w = Decimal(str(weight))
        except InvalidOperation:
            problems.append(f"the weight of {code} must be a number, not {weight!r}")
            continue
        if not (w.is_finite() and 0 <= w <= 1):
            problems.append(f"the weight of {code} is between 0 and 1, not {w}")
        elif code in clean:
            problems.append(f"{code} is named twice")
        clean[code] = w
    named = sum(clean.values(), Decimal(0))
    if quote in clean and abs(named - 1) > Decimal("1e-9"):
        problems.append(f"with the quote {quote} named, the weights add up to 1, not {named}")
    elif named > 1:
        problems.append(f"the weights add up to {named}, over 1")
    if not set(clean) - {quote}:
        problems.append(f"name at least one asset besides the quote {quote}")
    return clean


def rebalance_targets_load(data, *, updated_by: str) -> list[RebalanceTarget]:
    """Targets from a YAML document: `{accounts: {NAME: {quote, tolerance, aim, weights: {ASSET: w}}}}`."""
    accounts = data.get("accounts") if isinstance(data, dict) else None
    if not isinstance(accounts, dict) or not accounts:
        raise DomainError("A targets file has `accounts:`, a mapping of account name to its targets.")
    loaded = []
    with transaction.atomic():  # all the file or nothing
        for name, spec in accounts.items():
            exchange = Exchange.objects.filter(name=name).first()
            if exchange is None:
                raise DomainError(f"{name}: no such account.")
            if not isinstance(spec, dict):
                raise DomainError(f"{name}: its targets are a mapping (quote, tolerance, aim, weights).")
            extra = set(spec) - {"quote", "tolerance", "aim", "weights", "auto"}
            if extra:
                raise DomainError(f"{name}: unknown keys {', '.join(sorted(map(str, extra)))}.")
            try:
                loaded.append(rebalance_target_set(
                    exchange=exchange, weights=spec.get("weights"), quote=spec.get("quote"),
                    tolerance=spec.get("tolerance"), aim=spec.get("aim"), auto=spec.get("auto"), updated_by=updated_by,
                ))  # fmt: skip
            except DomainError as exc:
                raise DomainError(f"{name}: {exc.message}") from exc
    return loaded
