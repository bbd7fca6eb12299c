"""The analytics app: candles from trades, portfolio risk with limits that halt entries."""

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        from exchanges.trades import trade_reader_register

        from .services import CandleWriter

        trade_reader_register(CandleWriter)  # the simulator's and the feeds' trades become candles
