"""Reads for venue accounts and markets."""

from django.db.models import QuerySet

from .models import Exchange, Market


def exchange_list() -> QuerySet[Exchange]:
    return Exchange.objects.select_related("mirror_of")


def market_list() -> QuerySet[Market]:
    return Market.objects.select_related("exchange")
