"""The operators' dashboard, and the account and statistics reads of the API.

Every read goes through the API cache by kind (accounts `account`, figures
`stats`, positions and their events `positions`), so a dashboard left open
on many screens costs the venue one balance call per account a minute.
Actions on the dashboard call the same services as the admin and the API,
with the same permissions, and are recorded with who asked.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.apicache import cached
from core.cache_stats import cache_stats
from core.errors import DomainError
from exchanges.models import Exchange
from positions import actions as position_actions
from positions.api import PositionEventSerializer, PositionSerializer
from positions.models import PositionEvent, PositionPhase
from positions.outcomes import OutcomeKind
from positions.selectors import position_list

from .overview import cached_accounts_overview, cached_platform_stats

DASHBOARD_POSITIONS = 200
DASHBOARD_EVENTS = 30


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


def _open_positions() -> list[dict]:
    positions = position_list().exclude(phase=PositionPhase.CLOSED).order_by("next_check_at", "id")
    positions = positions[:DASHBOARD_POSITIONS]
    return PositionSerializer(positions, many=True).data


def _recent_events() -> list[dict]:
    events = PositionEvent.objects.filter(critical=True).order_by("-created_at", "-id")[:DASHBOARD_EVENTS]
    return PositionEventSerializer(events, many=True).data


@staff_member_required
def dashboard(request):
    context = {
        "title": "Dashboard",
        "accounts": cached_accounts_overview(),
        "stats": cached_platform_stats(),
        "positions": cached("positions", "dashboard:open", _open_positions),
        "events": cached("positions", "dashboard:events", _recent_events),
        "caches": cache_stats(),
        "can_close": request.user.has_perm("positions.close_position"),
        "can_halt": request.user.has_perm("positions.halt_entries"),
        "base_currencies": settings.PANIC_BASE_CURRENCIES,
        "refresh_s": 15,
    }
    return render(request, "dashboard.html", context)


def _act(request, permission: str, action) -> None:
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


@staff_member_required
@require_POST
def dashboard_close_position(request, position_id: int):
    to_stable = request.POST.get("to_stable") == "1"

    def close(who: str) -> str:
        position = position_actions.position_close_now(position_id=position_id, requested_by=who,
                                                         to_stable=to_stable)  # fmt: skip
        return f"Position {position.pk}: close sent; now {position.phase}."

    _act(request, "positions.close_position", close)
    return redirect("dashboard")


@staff_member_required
@require_POST
def dashboard_close_all(request):
    def close_all(who: str) -> str:
        report = position_actions.positions_close_all(requested_by=who)
        failed = {pk: outcome for pk, outcome in report.items() if outcome.kind == OutcomeKind.NOT_PLACED}
        detail = "; ".join(f"{pk}: {outcome}" for pk, outcome in failed.items())
        return f"Close all: {len(report) - len(failed)} of {len(report)} closed." + (f" {detail}" if detail else "")

    _act(request, "positions.close_position", close_all)
    return redirect("dashboard")


@staff_member_required
@require_POST
def dashboard_entries(request, exchange_id: int):
    exchange = get_object_or_404(Exchange, pk=exchange_id)
    halted = request.POST.get("halted") == "1"

    def toggle(who: str) -> str:
        position_actions.entries_halt(exchange=exchange, halted=halted, requested_by=who)
        return f"New entries on {exchange.name} {'stopped' if halted else 'resumed'}."

    _act(request, "positions.halt_entries", toggle)
    return redirect("dashboard")
