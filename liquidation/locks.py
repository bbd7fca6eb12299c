"""The ordered lock queryset for panic sells (taken after a cycle's lock when both are needed)."""

from django.db.models import QuerySet

from .models import PanicSell


def panic_sells_for_update() -> QuerySet[PanicSell]:
    return PanicSell.objects.order_by("pk").select_for_update(of=("self",))
