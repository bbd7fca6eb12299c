"""The operators' dashboard, and the account and statistics reads of the API.

Every read goes through the API cache by kind (accounts `account`, figures
`stats`, positions and their events `positions`), so a dashboard left open
on many screens costs the venue one balance call per account a minute.
Actions on the dashboard call the same services as the admin and the API,
with the same permissions, and are recorded with who asked.
"""

from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.performance import account_performance, strategy_performance, wallet_performance
from core.apicache import cached, invalidate
from core.cache_stats import cache_stats
from core.errors import Conflict, DomainError
from cycles import liquidating
from cycles.models import Cycle, CycleState, Strategy
from cycles.strategies import strategy_update
from exchanges.models import Exchange
from positions import actions as position_actions
from positions.api import PositionEventSerializer
from positions.models import Position, PositionEvent, PositionPhase, TakeProfitLevel
from positions.outcomes import OutcomeKind
from wallets.models import WatchedWallet
from wallets.services import wallet_set_enabled

from . import detail
from .charts import CHARTS, chart
from .overview import cached_accounts_overview, cached_platform_stats

DASHBOARD_POSITIONS = 200
DASHBOARD_EVENTS = 30
DASHBOARD_WALLETS = 100
CHART_TITLES = {
    "equity": "Equity per account", "pnl": "Realized PnL per day, cumulative", "cycles": "Cycles by outcome",
    "cycles_pnl": "Cycle PnL distribution (bps)", "funnel": "Scanner funnel", "detection": "Fill detection delay",
    "venues": "Venue request weight per minute vs budget", "positions": "Open positions by tier and phase",
}  # fmt: skip


class AccountsView(APIView):
    # Balances are the accounts' and the paper ledger's: both view permissions.
    required_permissions = ["exchanges.view_exchange", "exchanges.view_paperbalance"]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="Every account with its balances valued in DASHBOARD_VALUATION_ASSET, open positions, PnL and "
        'work in flight (cached API_CACHE_TTLS["account"], dropped at each critical position event).',
    )
    def get(self, request):
        return Response(cached_accounts_overview())


class StatsView(APIView):
    required_permissions = ["cycles.view_cycle", "positions.view_position", "orders.view_order"]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="Platform figures: cycles, positions, orders, wallets, panic sells "
        '(cached API_CACHE_TTLS["stats"]).',
    )
    def get(self, request):
        return Response(cached_platform_stats())


POSITION_COLUMNS = ("id", "phase", "tier", "entry_price", "remaining", "stop_loss", "breakeven_moved", "mark_price",
                    "unrealized_pnl", "next_check_at")  # fmt: skip


def _open_positions() -> list[dict]:
    """The most urgent open positions (next check first), as the table shows them: plain rows, two queries."""
    rows = list(Position.objects.exclude(phase=PositionPhase.CLOSED).order_by("next_check_at", "id")
                .values(*POSITION_COLUMNS, symbol=F("market__symbol"), quote=F("market__quote"))
                [:DASHBOARD_POSITIONS])  # fmt: skip
    ladders = defaultdict(list)
    levels = TakeProfitLevel.objects.filter(position_id__in=[r["id"] for r in rows]).order_by("position_id", "index")
    for level in levels.values("position_id", "price", "fraction", "status"):
        ladders[level.pop("position_id")].append(level)
    for row in rows:
        row["take_profits"] = ladders.get(row["id"], [])
    return rows


def _recent_events() -> list[dict]:
    events = PositionEvent.objects.filter(critical=True).order_by("-created_at", "-id")[:DASHBOARD_EVENTS]
    return PositionEventSerializer(events, many=True).data


def _strategies() -> list[dict]:
    return list(Strategy.objects.select_related("exchange").order_by("name")
                .values("id", "name", "enabled", "exchange__name"))  # fmt: skip


def _wallets() -> list[dict]:
    return list(WatchedWallet.objects.order_by("label").values("id", "label", "address", "enabled", "copy_enabled",
                                                               "last_trade_at")[:DASHBOARD_WALLETS])  # fmt: skip


def _failed_cycles() -> list[dict]:
    held = Cycle.objects.filter(state=CycleState.FAILED, held_amount__gt=0).order_by("-finished_at", "-id")
    return list(held.values("id", "held_asset", "held_amount", "finished_at")[:DASHBOARD_EVENTS])


# What each part of the page shows, computed only when that part is drawn (the page, or its htmx refresh).
PARTS = {
    "accounts": lambda: {"accounts": cached_accounts_overview()},
    "figures": lambda: {"stats": cached_platform_stats()},
    "positions": lambda: {"positions": cached("positions", "dashboard:open", _open_positions)},
    "events": lambda: {"events": cached("positions", "dashboard:events", _recent_events)},
    "controls": lambda: {"strategies": _strategies(), "wallets": _wallets(), "failed_cycles": _failed_cycles()},
    "caches": lambda: {"caches": cache_stats()},
    "performance": lambda: {
        "strategies": strategy_performance(),
        "wallets": wallet_performance(),
        "accounts": account_performance(),
    },
}


def _permissions(user) -> dict:
    return {
        "can_close": user.has_perm("positions.close_position"),
        "can_halt": user.has_perm("positions.halt_entries"),
        "can_panic": user.has_perm("liquidation.panic_sell"),
        "can_pause": user.has_perm("cycles.change_strategy"),
        "can_wallet": user.has_perm("wallets.change_watchedwallet"),
        "base_currencies": settings.PANIC_BASE_CURRENCIES,
        "refresh_s": settings.DASHBOARD_REFRESH_S,
    }


# The slowest to compute and the least urgent: htmx loads them after the page.
LAZY_PARTS = ("figures", "caches", "performance")


@staff_member_required
def dashboard(request):
    context = {"title": "Dashboard", "charts": CHART_TITLES, **_permissions(request.user)}
    for name, compute in PARTS.items():
        if name not in LAZY_PARTS:
            context |= compute()
    return render(request, "dashboard.html", context)


@staff_member_required
def dashboard_part(request, part: str):
    """One part of the page, for htmx to swap in place (every DASHBOARD_REFRESH_S, or after an action)."""
    if part not in PARTS:
        raise Http404(f"No dashboard part {part!r}.")
    return render(request, f"dashboard/parts/{part}.html", {**_permissions(request.user), **PARTS[part]()})


@staff_member_required
def dashboard_chart(request, name: str):
    try:
        return JsonResponse(chart(name))
    except KeyError:
        raise Http404(f"No chart {name!r} (one of {', '.join(CHARTS)}).") from None


def _act(request, permission: str, action, part: str):
    """Run an operator action (its permission first: 403 without it) and answer with the part of the page it
    changed, its result on top (htmx), or back to the page (a plain form post)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"This needs the permission {permission}.")
    try:
        messages.success(request, action(f"dashboard:{request.user.get_username()}"))
    except ObjectDoesNotExist as exc:
        raise Http404(str(exc) or "No such row.") from None
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    except DomainError as exc:  # venue errors and rejections included
        messages.error(request, str(exc))
    if request.headers.get("HX-Request"):
        invalidate("positions", "account")  # the part drawn next shows what the action did
        return dashboard_part(request, part)
    return redirect("dashboard")


@staff_member_required
@require_POST
def dashboard_close_position(request, position_id: int):
    to_stable = request.POST.get("to_stable") == "1"

    def close(who: str) -> str:
        position = position_actions.position_close_now(position_id=position_id, requested_by=who,
                                                         to_stable=to_stable)  # fmt: skip
        return f"Position {position.pk}: close sent; now {position.phase}."

    return _act(request, "positions.close_position", close, "positions")


@staff_member_required
@require_POST
def dashboard_close_all(request):
    def close_all(who: str) -> str:
        report = position_actions.positions_close_all(requested_by=who)
        failed = {pk: outcome for pk, outcome in report.items() if outcome.kind == OutcomeKind.NOT_PLACED}
        detail = "; ".join(f"{pk}: {outcome}" for pk, outcome in failed.items())
        return f"Close all: {len(report) - len(failed)} of {len(report)} closed." + (f" {detail}" if detail else "")

    return _act(request, "positions.close_position", close_all, "positions")


@staff_member_required
@require_POST
def dashboard_entries(request, exchange_id: int):
    exchange = get_object_or_404(Exchange, pk=exchange_id)
    halted = request.POST.get("halted") == "1"

    def toggle(who: str) -> str:
        position_actions.entries_halt(exchange=exchange, halted=halted, requested_by=who)
        return f"New entries on {exchange.name} {'stopped' if halted else 'resumed'}."

    return _act(request, "positions.halt_entries", toggle, "accounts")


@staff_member_required
@require_POST
def dashboard_panic_sell(request, cycle_id: int):
    cycle = get_object_or_404(Cycle, pk=cycle_id)

    def panic(who: str) -> str:
        if not cycle.held_asset or cycle.held_amount <= 0:
            raise Conflict(f"Cycle {cycle.pk} holds nothing to sell.")
        sell = liquidating.cycle_panic_sell(cycle=cycle, requested_by=who)
        return f"Cycle {cycle.pk}: panic sell {sell.pk} of {sell.amount} {sell.asset} started."

    return _act(request, "liquidation.panic_sell", panic, "controls")


def _switch(request, model, pk: int, permission: str, apply, name, words: tuple[str, str]):
    """Turn one row on or off (POST enabled=1 or 0) through its service; words: what on and off are called."""
    row = get_object_or_404(model, pk=pk)
    enabled = request.POST.get("enabled") == "1"

    def switch(who: str) -> str:
        apply(row, enabled)
        return f"{name(row)} {words[0] if enabled else words[1]} (by {who})."

    return _act(request, permission, switch, "controls")


@staff_member_required
@require_POST
def dashboard_strategy(request, strategy_id: int):
    return _switch(request, Strategy, strategy_id, "cycles.change_strategy",
                   lambda s, on: strategy_update(s, {"enabled": on}), lambda s: f"Strategy {s.name}",
                   ("resumed", "paused"))  # fmt: skip


@staff_member_required
@require_POST
def dashboard_wallet(request, wallet_id: int):
    return _switch(request, WatchedWallet, wallet_id, "wallets.change_watchedwallet", wallet_set_enabled,
                   lambda w: f"Wallet {w.label or w.address}", ("enabled", "disabled"))  # fmt: skip


# --- one position, one wallet, one cycle ------------------------------------------------------------------------
@staff_member_required
def position_page(request, position_id: int):
    position = get_object_or_404(Position.objects.select_related("market", "exchange"), pk=position_id)
    if request.GET.get("json"):
        return JsonResponse(detail.position_chart(position))
    return render(request, "dashboard/position.html", {
        "title": f"Position {position.pk}", "position": position, "data": detail.position_chart(position),
        "events": position.events.filter(critical=True).order_by("-created_at")[:50], **_permissions(request.user),
    })  # fmt: skip


@staff_member_required
def wallet_page(request, wallet_id: int):
    wallet = get_object_or_404(WatchedWallet, pk=wallet_id)
    data = detail.wallet_chart(wallet)
    if request.GET.get("json"):
        return JsonResponse(data)
    return render(request, "dashboard/wallet.html", {"title": f"Wallet {wallet.label or wallet.address}",
                                                     "wallet": wallet, "data": data, "rows": data["rows"],
                                                     **_permissions(request.user)})  # fmt: skip


@staff_member_required
def cycle_page(request, cycle_id: int):
    cycle = get_object_or_404(Cycle.objects.select_related("strategy"), pk=cycle_id)
    data = detail.cycle_chart(cycle)
    if request.GET.get("json"):
        return JsonResponse(data)
    return render(request, "dashboard/cycle.html", {"title": f"Cycle {cycle.pk}", "cycle": cycle, "data": data,
                                                    "legs": data["legs"], **_permissions(request.user)})  # fmt: skip
